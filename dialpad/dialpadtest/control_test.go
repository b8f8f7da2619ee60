package dialpadtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func TestControlEndpoints(t *testing.T) {
	s := newServer(t, Config{})
	ws := s.AddWebsocket("")
	if _, err := s.AddSubscription("call", ws, SubscriptionOptions{}); err != nil {
		t.Fatal(err)
	}
	hook, got := hookServer(t, http.StatusOK)
	if _, err := s.AddSubscription("call", s.AddWebhook(hook.URL, ""), SubscriptionOptions{}); err != nil {
		t.Fatal(err)
	}
	url, _ := s.WebsocketURL(ws)
	c := connect(t, s, url, 1)

	st, _, body := do(t, s, http.MethodPost, "/dialpadtest/publish/call", callEvent)
	var pub map[string]int
	mustJSON(t, st, body, &pub)
	if len(pub) != 3 || pub["frames"] != 1 || pub["webhooks"] != 1 || pub["subscriptions"] != 2 {
		t.Errorf("publish answered %s", body)
	}
	if f := readFrame(t, c); string(f) != callEvent {
		t.Errorf("frame %s", f)
	}
	if r := <-got; r.body != callEvent {
		t.Errorf("webhook body %s", r.body)
	}

	// An event far larger than a REST body, as large as listen's
	// --max-frame-bytes may be set, is published whole.
	big := append([]byte(`{"call_id":1,"pad":"`), bytes.Repeat([]byte("x"), 9<<20)...)
	big = append(big, `"}`...)
	frame := make(chan []byte, 1)
	go func() { // read while it is written: it outgrows the socket's buffers
		_ = c.SetReadDeadline(time.Now().Add(testWait))
		_, msg, _ := c.ReadMessage()
		frame <- msg
	}()
	st, _, body = do(t, s, http.MethodPost, "/dialpadtest/publish/call", big)
	mustJSON(t, st, body, &pub)
	if pub["frames"] != 1 {
		t.Errorf("publish of a 9 MiB event answered %s", body)
	}
	if f := <-frame; !bytes.Equal(f, big) {
		t.Errorf("frame of %d bytes, want the %d published", len(f), len(big))
	}
	<-got

	st, _, body = do(t, s, http.MethodPost, "/dialpadtest/trigger/call", nil)
	var trig struct{ Events, Frames, Webhooks int }
	mustJSON(t, st, body, &trig)
	if trig.Events < 5 || trig.Frames != trig.Events || trig.Webhooks != trig.Events {
		t.Errorf("trigger answered %s", body)
	}
	var callID json.Number
	for i := range trig.Events {
		var ev struct {
			CallID json.Number `json:"call_id"`
		}
		f := readFrame(t, c)
		dec := json.NewDecoder(bytes.NewReader(f))
		dec.UseNumber()
		if err := dec.Decode(&ev); err != nil || (i > 0 && ev.CallID != callID) {
			t.Errorf("frame %d: %s", i, f)
		}
		callID = ev.CallID
		<-got
	}

	for _, tt := range []struct {
		method, path, key string
		want              int
	}{
		{http.MethodPost, "/dialpadtest/trigger/sms", s.APIKey(), 200},
		{http.MethodPost, "/dialpadtest/trigger/call", "", 401},
		{http.MethodPost, "/dialpadtest/publish/call", "wrong", 401},
		{http.MethodPost, "/dialpadtest/publish/fax", s.APIKey(), 404},
		{http.MethodPost, "/dialpadtest/explode/call", s.APIKey(), 404},
		{http.MethodGet, "/dialpadtest/trigger/call", s.APIKey(), 405},
		{http.MethodPost, "/dialpadtest/publish/call", s.APIKey(), 400}, // empty body
	} {
		if st, _, body := doKey(t, s, tt.method, tt.path, nil, tt.key); st != tt.want {
			t.Errorf("%s %s: %d %s, want %d", tt.method, tt.path, st, body, tt.want)
		}
	}
	if n := len(s.RESTCalls()); n != 0 {
		t.Errorf("control calls logged as REST calls: %d", n)
	}
}
