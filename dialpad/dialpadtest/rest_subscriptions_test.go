package dialpadtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// tokenSubject returns the unverified sub claim of a websocket_url.
func tokenSubject(t *testing.T, url string) string {
	t.Helper()
	parts := strings.Split(url[strings.LastIndex(url, "/")+1:], ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments", len(parts))
	}
	var hdr struct{ Typ string }
	var claims struct {
		Sub      string
		Exp, Iat float64
	}
	h, _ := base64.RawURLEncoding.DecodeString(parts[0])
	p, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if json.Unmarshal(h, &hdr) != nil || json.Unmarshal(p, &claims) != nil {
		t.Fatalf("undecodable token")
	}
	if hdr.Typ != "vnd.dialpad.websocket+jwt" || claims.Exp <= claims.Iat {
		t.Errorf("token header typ %q, iat %v, exp %v", hdr.Typ, claims.Iat, claims.Exp)
	}
	return claims.Sub
}

func TestSubscriptionValidation(t *testing.T) {
	s := newServer(t, Config{})
	ws := s.AddWebsocket("")
	wh := s.AddWebhook("http://127.0.0.1:1/h", "")
	tests := []struct {
		typ  string
		body string
		want int
	}{
		{"call", fmt.Sprintf(`{"endpoint_id":%d}`, ws), 200},
		{"call", fmt.Sprintf(`{"endpoint_id":"%d","call_states":["hangup","ringing"]}`, wh), 200},
		{"call", fmt.Sprintf(`{"endpoint_id":%d,"call_states":["exploded"]}`, ws), 400},
		{"call", fmt.Sprintf(`{"endpoint_id":%d,"target_type":"planet","target_id":1}`, ws), 400},
		{"call", `{"call_states":["all"]}`, 400},
		{"call", `{"endpoint_id":999999}`, 404},
		{"call", `{"endpoint_id":"abc"}`, 400},
		{"sms", fmt.Sprintf(`{"endpoint_id":%d}`, ws), 400},
		{"sms", fmt.Sprintf(`{"endpoint_id":%d,"direction":"sideways"}`, ws), 400},
		{"sms", fmt.Sprintf(`{"endpoint_id":%d,"direction":"inbound"}`, ws), 200},
		{"agent_status", fmt.Sprintf(`{"endpoint_id":%d}`, ws), 400},
		{"agent_status", fmt.Sprintf(`{"endpoint_id":%d,"agent_type":"callcenter"}`, ws), 200},
		{"contact", fmt.Sprintf(`{"endpoint_id":%d}`, ws), 400},
		{"contact", fmt.Sprintf(`{"endpoint_id":%d,"contact_type":"global"}`, ws), 400},
		{"contact", fmt.Sprintf(`{"endpoint_id":%d,"contact_type":"local"}`, ws), 200},
		{"changelog", fmt.Sprintf(`{"endpoint_id":%d}`, ws), 200},
		{"fax", fmt.Sprintf(`{"endpoint_id":%d}`, ws), 404},
	}
	for _, tt := range tests {
		t.Run(tt.typ+" "+tt.body, func(t *testing.T) {
			st, _, body := do(t, s, http.MethodPost, "/api/v2/subscriptions/"+tt.typ, tt.body)
			if st != tt.want {
				t.Errorf("status %d %s, want %d", st, body, tt.want)
			}
		})
	}
}

func TestSubscriptionCRUD(t *testing.T) {
	s := newServer(t, Config{PageSize: 2})
	ws := s.AddWebsocket("sec")
	wh := s.AddWebhook("http://127.0.0.1:1/h", "")
	var sub subscriptionProto
	st, _, body := do(t, s, http.MethodPost, "/api/v2/subscriptions/call",
		map[string]any{"endpoint_id": ws, "call_states": []string{"hangup"}, "target_type": "office", "target_id": "77"})
	mustJSON(t, st, body, &sub)
	if sub.Websocket == nil || sub.Webhook != nil || !sub.Enabled || sub.TargetID != "77" ||
		len(sub.CallStates) != 1 || sub.Websocket.Signature == nil {
		t.Fatalf("created %s", body)
	}
	wantSub := fmt.Sprintf("endpoint:%d:call:%s", ws, sub.ID)
	if got := tokenSubject(t, sub.Websocket.WebsocketURL); got != wantSub {
		t.Errorf("subscription token sub %q, want %q", got, wantSub)
	}
	url, err := s.WebsocketURL(ws)
	if err != nil {
		t.Fatal(err)
	}
	if got := tokenSubject(t, url); got != fmt.Sprintf("endpoint:%d:*", ws) {
		t.Errorf("websocket token sub %q", got)
	}

	// PATCH is partial: only enabled and the endpoint change.
	st, _, body = do(t, s, http.MethodPatch, "/api/v2/subscriptions/call/"+sub.ID,
		map[string]any{"enabled": false, "endpoint_id": wh})
	sub = subscriptionProto{}
	mustJSON(t, st, body, &sub)
	if sub.Enabled || sub.Webhook == nil || sub.Websocket != nil || sub.CallStates[0] != "hangup" || sub.TargetType != "office" {
		t.Errorf("patched %s", body)
	}
	if st, _, _ := do(t, s, http.MethodGet, "/api/v2/subscriptions/sms/"+sub.ID, nil); st != 404 {
		t.Errorf("call subscription under sms: %d, want 404", st)
	}
	cid, err := s.AddSubscription("contact", ws, SubscriptionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/v2/subscriptions/contact/%d", cid)
	if st, _, _ := do(t, s, http.MethodPatch, path, `{"enabled":false}`); st != 400 {
		t.Errorf("contact PATCH without contact_type: %d, want 400", st)
	}
	if st, _, body := do(t, s, http.MethodPatch, path, `{"contact_type":"local"}`); st != 200 || !strings.Contains(string(body), `"contact_type":"local"`) {
		t.Errorf("contact PATCH: %d %s", st, body)
	}

	// List with target filters.
	for range 3 {
		if _, err := s.AddSubscription("call", ws, SubscriptionOptions{TargetType: "user", TargetID: 5}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		query string
		want  int
	}{{"", 4}, {"?target_type=user", 3}, {"?target_type=office&target_id=77", 1}, {"?target_id=6", 0}} {
		n, cursor := 0, ""
		for {
			q := tt.query
			if cursor != "" {
				q += map[bool]string{true: "?", false: "&"}[q == ""] + "cursor=" + cursor
			}
			var page list[subscriptionProto]
			st, _, body := do(t, s, http.MethodGet, "/api/v2/subscriptions/call"+q, nil)
			mustJSON(t, st, body, &page)
			n += len(page.Items)
			if cursor = page.Cursor; cursor == "" {
				break
			}
		}
		if n != tt.want {
			t.Errorf("list %q: %d items, want %d", tt.query, n, tt.want)
		}
	}
	st, _, body = do(t, s, http.MethodDelete, "/api/v2/subscriptions/call/"+sub.ID, nil)
	mustJSON(t, st, body, &sub)
	if st, _, _ := do(t, s, http.MethodGet, "/api/v2/subscriptions/call/"+sub.ID, nil); st != 404 {
		t.Errorf("GET deleted subscription: %d", st)
	}
}
