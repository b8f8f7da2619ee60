package dialpadtest

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// A call event with an id above 2^53 and a key order encoding/json would
// not produce, to check the bytes are sent unchanged.
const callEvent = `{"state":"hangup","call_id":9007199254740993,"direction":"inbound"}`

// connect dials url and waits until the server counts n connections.
func connect(t *testing.T, s *Server, url string, n int) *websocket.Conn {
	t.Helper()
	c := dial(t, url)
	if err := s.WaitConnections(ctxWait(t), n); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFramesJSONAndJWT(t *testing.T) {
	tests := []struct{ name, secret string }{{"json", ""}, {"jwt", "s3cret"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Config{})
			ws := s.AddWebsocket(tt.secret)
			if _, err := s.AddSubscription("call", ws, SubscriptionOptions{}); err != nil {
				t.Fatal(err)
			}
			url, _ := s.WebsocketURL(ws)
			c := connect(t, s, url, 1)
			if d := s.Publish("call", []byte(callEvent)); d != (Delivery{Frames: 1, Subscriptions: 1}) {
				t.Errorf("delivery %+v", d)
			}
			frame := readFrame(t, c)
			if tt.secret == "" {
				if string(frame) != callEvent {
					t.Errorf("frame %s, want %s", frame, callEvent)
				}
				return
			}
			tok, err := jwt.Parse(string(frame), func(*jwt.Token) (any, error) { return []byte(tt.secret), nil },
				jwt.WithValidMethods([]string{"HS256"}))
			if err != nil || !tok.Valid {
				t.Fatalf("frame is not a valid HS256 JWT: %v", err)
			}
			payload, err := base64.RawURLEncoding.DecodeString(strings.Split(string(frame), ".")[1])
			if err != nil || string(payload) != callEvent {
				t.Errorf("payload %s, want %s", payload, callEvent)
			}
		})
	}
}

func TestScopedDelivery(t *testing.T) {
	s := newServer(t, Config{})
	ws := s.AddWebsocket("")
	callSub, _ := s.AddSubscription("call", ws, SubscriptionOptions{})
	smsSub, _ := s.AddSubscription("sms", ws, SubscriptionOptions{})
	// A second call subscription on the same websocket must not duplicate frames.
	if _, err := s.AddSubscription("call", ws, SubscriptionOptions{CallStates: []string{"hangup"}}); err != nil {
		t.Fatal(err)
	}
	wsURL, _ := s.WebsocketURL(ws)
	all := connect(t, s, wsURL, 1)
	callOnly := connect(t, s, s.websocketURL(ws, "call", callSub), 2)
	smsOnly := connect(t, s, s.websocketURL(ws, "sms", smsSub), 3)

	if d := s.Publish("call", []byte(callEvent)); d.Frames != 2 {
		t.Errorf("call: %d frames, want 2 (websocket- and call-scoped)", d.Frames)
	}
	sms := `{"direction":"inbound","id":1}`
	if d := s.Publish("sms", []byte(sms)); d.Frames != 2 {
		t.Errorf("sms: %d frames, want 2 (websocket- and sms-scoped)", d.Frames)
	}
	for _, want := range []string{callEvent, sms} {
		if got := readFrame(t, all); string(got) != want {
			t.Errorf("websocket-scoped got %s, want %s", got, want)
		}
	}
	if got := readFrame(t, callOnly); string(got) != callEvent {
		t.Errorf("call-scoped got %s", got)
	}
	if got := readFrame(t, smsOnly); string(got) != sms {
		t.Errorf("sms-scoped got %s", got)
	}
}

func TestFilters(t *testing.T) {
	tests := []struct {
		name  string
		typ   string
		opts  SubscriptionOptions
		event string
		want  int
	}{
		{"call all", "call", SubscriptionOptions{}, `{"state":"ringing"}`, 1},
		{"call state listed", "call", SubscriptionOptions{CallStates: []string{"ringing", "hangup"}}, `{"state":"hangup"}`, 1},
		{"call state not listed", "call", SubscriptionOptions{CallStates: []string{"ringing"}}, `{"state":"hangup"}`, 0},
		{"sms all", "sms", SubscriptionOptions{}, `{"direction":"outbound"}`, 1},
		{"sms same direction", "sms", SubscriptionOptions{Direction: "inbound"}, `{"direction":"inbound"}`, 1},
		{"sms other direction", "sms", SubscriptionOptions{Direction: "inbound"}, `{"direction":"outbound"}`, 0},
		{"disabled", "contact", SubscriptionOptions{Disabled: true}, `{"event":"Created"}`, 0},
		{"agent status", "agent_status", SubscriptionOptions{}, `{"on_duty_status":"available"}`, 1},
		{"other type", "changelog", SubscriptionOptions{}, `{}`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Config{})
			ws := s.AddWebsocket("")
			if _, err := s.AddSubscription(tt.typ, ws, tt.opts); err != nil {
				t.Fatal(err)
			}
			url, _ := s.WebsocketURL(ws)
			connect(t, s, url, 1)
			if d := s.Publish(tt.typ, []byte(tt.event)); d.Frames != tt.want {
				t.Errorf("frames %d, want %d", d.Frames, tt.want)
			}
			if d := s.Publish("unknown", []byte(tt.event)); d.Frames != 0 {
				t.Errorf("unknown type delivered %d frames", d.Frames)
			}
		})
	}
}

// received is one POST a webhook receiver got.
type received struct {
	body              string
	contentType, user string
}

func hookServer(t *testing.T, status int) (*httptest.Server, chan received) {
	got := make(chan received, 16)
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- received{string(b), r.Header.Get("Content-Type"), r.Header.Get("User-Agent")}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Close)
	return h, got
}

func TestWebhookDelivery(t *testing.T) {
	s := newServer(t, Config{WebhookContentTypeJWT: "text/plain"})
	plain, plainGot := hookServer(t, http.StatusOK)
	signed, signedGot := hookServer(t, http.StatusNoContent)
	failing, failingGot := hookServer(t, http.StatusInternalServerError)
	for _, h := range []struct{ url, secret string }{{plain.URL, ""}, {signed.URL, "k"}, {failing.URL, ""}} {
		id := s.AddWebhook(h.url, h.secret)
		for range 2 { // two matching subscriptions, still one POST
			if _, err := s.AddSubscription("call", id, SubscriptionOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	d := s.Publish("call", []byte(callEvent))
	if d != (Delivery{Webhooks: 2, WebhookErrors: 1, Subscriptions: 6}) { // two subscriptions per webhook
		t.Errorf("delivery %+v", d)
	}
	r := <-plainGot
	if r.body != callEvent || r.contentType != "application/json" || r.user != "Dialpad-Webhooks/1.0 (dialpadtest)" {
		t.Errorf("plain webhook got %+v", r)
	}
	r = <-signedGot
	if _, err := jwt.Parse(r.body, func(*jwt.Token) (any, error) { return []byte("k"), nil }); err != nil || r.contentType != "text/plain" {
		t.Errorf("signed webhook got %+v (%v)", r, err)
	}
	<-failingGot
	for _, ch := range []chan received{plainGot, signedGot, failingGot} {
		if len(ch) != 0 {
			t.Errorf("a webhook got %d extra POSTs", len(ch))
		}
	}
}

// BenchmarkPublish measures Publish of generated events to one
// websocket-scoped connection whose client discards what it reads.
func BenchmarkPublish(b *testing.B) {
	s, err := NewServer(Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	ws, err := s.AddWebsocketForAll("")
	if err != nil {
		b.Fatal(err)
	}
	url, _ := s.WebsocketURL(ws)
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	go func() { // ends when the connection closes
		for {
			if _, _, err := c.NextReader(); err != nil {
				return
			}
		}
	}()
	if err := s.WaitConnections(context.Background(), 1); err != nil {
		b.Fatal(err)
	}
	gen := NewGenerator(7)
	types, events := make([]string, 1000), make([][]byte, 1000)
	for i := range events {
		types[i], events[i] = gen.Next()
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if d := s.Publish(types[i%len(events)], events[i%len(events)]); d.Frames != 1 {
			b.Fatalf("delivery %+v", d)
		}
	}
}
