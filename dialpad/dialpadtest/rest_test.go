package dialpadtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAuth(t *testing.T) {
	s := newServer(t, Config{APIKey: "k1"})
	req := func(mod func(r *http.Request)) int {
		r, _ := http.NewRequest(http.MethodGet, s.URL()+"/api/v2/websockets", nil)
		mod(r)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			var e errorBody
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Error.Code != 401 || e.Error.Message == "" {
				t.Errorf("401 body: %+v, %v", e, err)
			}
		}
		return resp.StatusCode
	}
	tests := []struct {
		name string
		mod  func(r *http.Request)
		want int
	}{
		{"no key", func(r *http.Request) {}, 401},
		{"wrong bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer k2") }, 401},
		{"basic scheme", func(r *http.Request) { r.Header.Set("Authorization", "Basic k1") }, 401},
		{"wrong query key", func(r *http.Request) { r.URL.RawQuery = "apikey=k2" }, 401},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer k1") }, 200},
		{"query key", func(r *http.Request) { r.URL.RawQuery = "apikey=k1" }, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := req(tt.mod); got != tt.want {
				t.Errorf("status %d, want %d", got, tt.want)
			}
		})
	}
	if !strings.HasPrefix(newServer(t, Config{}).APIKey(), "dptest_") {
		t.Error("default API key lacks the dptest_ prefix")
	}
}

func TestPagination(t *testing.T) {
	s := newServer(t, Config{PageSize: 2})
	for range 5 {
		s.AddWebsocket("")
		s.AddWebhook("http://127.0.0.1:1/hook", "")
	}
	for _, path := range []string{"/api/v2/websockets", "/api/v2/webhooks"} {
		var ids []string
		cursor, pages := "", 0
		for {
			p := path
			if cursor != "" {
				p += "?cursor=" + cursor
			}
			var page struct {
				Items []struct {
					ID string `json:"id"`
				} `json:"items"`
				Cursor *string `json:"cursor"`
			}
			st, _, body := do(t, s, http.MethodGet, p, nil)
			mustJSON(t, st, body, &page)
			pages++
			for _, it := range page.Items {
				ids = append(ids, it.ID)
			}
			if page.Cursor == nil {
				break
			}
			cursor = *page.Cursor
		}
		if pages != 3 || len(ids) != 5 {
			t.Errorf("%s: %d pages, ids %v; want 3 pages, 5 ids", path, pages, ids)
		}
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				t.Errorf("%s: ids not increasing: %v", path, ids)
			}
		}
	}
	if st, _, _ := do(t, s, http.MethodGet, "/api/v2/websockets?cursor=bogus", nil); st != 400 {
		t.Errorf("bad cursor: status %d, want 400", st)
	}
}

func TestWebsocketCRUD(t *testing.T) {
	s := newServer(t, Config{})
	var created, got1, got2, patched, deleted wsResp
	st, _, body := do(t, s, http.MethodPost, "/api/v2/websockets", map[string]string{"secret": "s1"})
	mustJSON(t, st, body, &created)
	if created.ID == "" || created.Signature == nil || *created.Signature != (signatureProto{"HS256", "s1", "jwt"}) {
		t.Fatalf("created %s", body)
	}
	st, _, body = do(t, s, http.MethodGet, "/api/v2/websockets/"+created.ID, nil)
	mustJSON(t, st, body, &got1)
	st, _, body = do(t, s, http.MethodGet, "/api/v2/websockets/"+created.ID, nil)
	mustJSON(t, st, body, &got2)
	if got1.WebsocketURL == got2.WebsocketURL || got1.WebsocketURL == created.WebsocketURL {
		t.Error("GET did not issue a fresh websocket_url")
	}
	if !strings.HasPrefix(got1.WebsocketURL, "ws://127.0.0.1:") || !strings.Contains(got1.WebsocketURL, "/events/") {
		t.Errorf("websocket_url %q", got1.WebsocketURL)
	}
	st, _, body = do(t, s, http.MethodPatch, "/api/v2/websockets/"+created.ID, map[string]string{"secret": ""})
	mustJSON(t, st, body, &patched)
	if patched.Signature != nil || strings.Contains(string(body), "signature") {
		t.Errorf("patched to no secret: %s", body)
	}
	c := dial(t, got1.WebsocketURL)
	if err := s.WaitConnections(ctxWait(t), 1); err != nil {
		t.Fatal(err)
	}
	st, _, body = do(t, s, http.MethodDelete, "/api/v2/websockets/"+created.ID, nil)
	mustJSON(t, st, body, &deleted)
	if deleted.ID != created.ID {
		t.Errorf("deleted %s", body)
	}
	if err := readClose(t, c); !strings.Contains(err.Error(), "websocket deleted") {
		t.Errorf("connection of deleted websocket: %v", err)
	}
	if st := dialStatus(t, got2.WebsocketURL); st != http.StatusNotFound {
		t.Errorf("handshake for deleted websocket: %d, want 404", st)
	}
	if st, _, _ := do(t, s, http.MethodGet, "/api/v2/websockets/"+created.ID, nil); st != 404 {
		t.Errorf("GET deleted: %d, want 404", st)
	}
}

func TestWebhookCRUD(t *testing.T) {
	s := newServer(t, Config{})
	var wh webhookProto
	st, _, body := do(t, s, http.MethodPost, "/api/v2/webhooks", map[string]string{"hook_url": "https://example.com/a", "secret": "x"})
	mustJSON(t, st, body, &wh)
	if wh.HookURL != "https://example.com/a" || wh.Signature == nil || wh.Signature.Secret != "x" {
		t.Fatalf("created %s", body)
	}
	st, _, body = do(t, s, http.MethodPatch, "/api/v2/webhooks/"+wh.ID, map[string]string{"hook_url": "https://example.com/b"})
	mustJSON(t, st, body, &wh)
	if wh.HookURL != "https://example.com/b" || wh.Signature == nil {
		t.Errorf("patched %s", body)
	}
	for _, tt := range []struct {
		method, path string
		body         any
		want         int
	}{
		{http.MethodPost, "/api/v2/webhooks", map[string]string{}, 400},
		{http.MethodPost, "/api/v2/webhooks", map[string]string{"hook_url": "not a url"}, 400},
		{http.MethodPost, "/api/v2/webhooks", `{"hook_url":`, 400},
		{http.MethodGet, "/api/v2/webhooks/999999", nil, 404},
		{http.MethodPut, "/api/v2/webhooks/" + wh.ID, nil, 405},
		{http.MethodPost, "/api/v2/nothing", nil, 404},
		{http.MethodDelete, "/api/v2/webhooks/" + wh.ID, nil, 200},
		{http.MethodGet, "/api/v2/webhooks/" + wh.ID, nil, 404},
	} {
		st, _, body := do(t, s, tt.method, tt.path, tt.body)
		if st != tt.want {
			t.Errorf("%s %s: %d %s, want %d", tt.method, tt.path, st, body, tt.want)
		}
		var e errorBody
		if st != 200 && (json.Unmarshal(body, &e) != nil || e.Error.Code != st) {
			t.Errorf("%s %s: error body %s", tt.method, tt.path, body)
		}
	}
}

func TestFailNextREST(t *testing.T) {
	s := newServer(t, Config{})
	s.FailNextREST(2, http.StatusTooManyRequests, 1500*time.Millisecond)
	for i := range 2 {
		st, h, body := do(t, s, http.MethodGet, "/api/v2/websockets", nil)
		var e errorBody
		if st != 429 || h.Get("Retry-After") != "2" || json.Unmarshal(body, &e) != nil || e.Error.Code != 429 {
			t.Errorf("call %d: %d Retry-After %q %s", i, st, h.Get("Retry-After"), body)
		}
	}
	if st, h, _ := do(t, s, http.MethodGet, "/api/v2/websockets", nil); st != 200 || h.Get("Retry-After") != "" {
		t.Errorf("third call: %d", st)
	}
	s.FailNextREST(1, http.StatusServiceUnavailable, 0)
	if st, h, _ := do(t, s, http.MethodGet, "/api/v2/websockets", nil); st != 503 || h.Get("Retry-After") != "" {
		t.Errorf("503 without Retry-After: %d %q", st, h.Get("Retry-After"))
	}
	calls := s.RESTCalls()
	want := []int{429, 429, 200, 503}
	if len(calls) != len(want) {
		t.Fatalf("RESTCalls %+v", calls)
	}
	for i, c := range calls {
		if c.Status != want[i] || c.Method != http.MethodGet || c.Path != "/api/v2/websockets" {
			t.Errorf("call %d: %+v, want status %d", i, c, want[i])
		}
	}
}

// TestRESTCallsKeepsTheLatest: the log of REST requests keeps the latest
// MaxRESTCalls, oldest first: the emulator kept every call of its life.
func TestRESTCallsKeepsTheLatest(t *testing.T) {
	s := newServer(t, Config{MaxRESTCalls: 4})
	for i := range 7 {
		do(t, s, http.MethodGet, "/api/v2/websockets/"+strconv.Itoa(1000+i), nil)
	}
	calls := s.RESTCalls()
	if len(calls) == 0 || len(calls) > 4 {
		t.Fatalf("RESTCalls kept %d calls, want 1 to 4", len(calls))
	}
	for i, c := range calls {
		want := "/api/v2/websockets/" + strconv.Itoa(1007-len(calls)+i)
		if c.Path != want {
			t.Errorf("call %d: %s, want %s (the latest, oldest first)", i, c.Path, want)
		}
	}
}
