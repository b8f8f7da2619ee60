package dialpadtest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestHandshakeRejections(t *testing.T) {
	s := newServer(t, Config{TokenTTL: 300 * time.Millisecond})
	ws := s.AddWebsocket("")
	url, err := s.WebsocketURL(ws)
	if err != nil {
		t.Fatal(err)
	}
	other := newServer(t, Config{})
	otherURL, _ := other.WebsocketURL(other.AddWebsocket(""))
	wsBase := "ws" + strings.TrimPrefix(s.URL(), "http")
	foreign := wsBase + otherURL[strings.Index(otherURL, "/events/"):]
	tests := []struct {
		name string
		url  string
		want int
	}{
		{"garbage token", wsBase + "/events/abc.def.ghi", 401},
		{"token of another server", foreign, 401},
		{"tampered token", url[:len(url)-2] + "xx", 401},
		{"valid", url, 101},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dialStatus(t, tt.url); got != tt.want {
				t.Errorf("status %d, want %d", got, tt.want)
			}
		})
	}
	if _, err := s.WebsocketURL(999); err == nil {
		t.Error("WebsocketURL of an unknown websocket succeeded")
	}
	// Wait for the token to expire, then the handshake must fail with 401.
	<-time.After(time.Until(tokenExp(t, url)))
	if got := dialStatus(t, url); got != http.StatusUnauthorized {
		t.Errorf("expired token: status %d, want 401", got)
	}
	if err := s.WaitHandshakes(ctxWait(t), 1); err != nil || s.Handshakes() != 1 {
		t.Errorf("Handshakes %d, want 1", s.Handshakes())
	}
}

// tokenExp returns the unverified expiry of the token in url.
func tokenExp(t *testing.T, url string) time.Time {
	t.Helper()
	var claims struct{ Exp float64 }
	payload := strings.Split(url[strings.LastIndex(url, "/")+1:], ".")[1]
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || json.Unmarshal(raw, &claims) != nil {
		t.Fatalf("undecodable token")
	}
	return secondsToTime(claims.Exp)
}

func TestCloseAtExpiry(t *testing.T) {
	s := newServer(t, Config{TokenTTL: 300 * time.Millisecond, CloseCode: 4000})
	url, _ := s.WebsocketURL(s.AddWebsocket(""))
	exp := tokenExp(t, url)
	c := dial(t, url)
	err := readClose(t, c)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4000 || ce.Text != "token expired" {
		t.Fatalf("close error %v, want 4000 token expired", err)
	}
	if now := time.Now(); now.Before(exp) {
		t.Errorf("closed %v before exp", exp.Sub(now))
	}
	if err := s.waitFor(ctxWait(t), func() bool { return len(s.open) == 0 }); err != nil {
		t.Errorf("connections %d after expiry", s.Connections())
	}
}

func TestRefuseNextHandshakes(t *testing.T) {
	s := newServer(t, Config{})
	url, _ := s.WebsocketURL(s.AddWebsocket(""))
	s.RefuseNextHandshakes(2, http.StatusServiceUnavailable)
	for i, want := range []int{503, 503, 101} {
		if got := dialStatus(t, url); got != want {
			t.Errorf("handshake %d: %d, want %d", i, got, want)
		}
	}
	if err := s.WaitHandshakes(ctxWait(t), 1); err != nil {
		t.Errorf("Handshakes %d, want 1", s.Handshakes())
	}
}

func TestDropConnections(t *testing.T) {
	s := newServer(t, Config{})
	url, _ := s.WebsocketURL(s.AddWebsocket(""))
	c1, c2 := dial(t, url), dial(t, url)
	if err := s.WaitConnections(ctxWait(t), 2); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for _, c := range []*websocket.Conn{c1, c2} {
		go func() { errs <- readClose(t, c) }()
	}
	s.DropConnections(4001, "going")
	for range 2 {
		var ce *websocket.CloseError
		if err := <-errs; !errors.As(err, &ce) || ce.Code != 4001 || ce.Text != "going" {
			t.Errorf("close error %v, want 4001 going", err)
		}
	}
	if s.Connections() != 0 {
		t.Errorf("Connections %d after DropConnections", s.Connections())
	}

	c3 := dial(t, url)
	if err := s.WaitConnections(ctxWait(t), 1); err != nil {
		t.Fatal(err)
	}
	s.DropConnectionsAbruptly()
	err := readClose(t, c3)
	var ce *websocket.CloseError
	if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
		t.Errorf("abrupt drop sent a close frame: %v", err)
	}
	if s.Connections() != 0 || s.Handshakes() != 3 {
		t.Errorf("Connections %d, Handshakes %d", s.Connections(), s.Handshakes())
	}
}

func TestClientCloseStopsFrames(t *testing.T) {
	s := newServer(t, Config{})
	ws := s.AddWebsocket("")
	if _, err := s.AddSubscription("changelog", ws, SubscriptionOptions{}); err != nil {
		t.Fatal(err)
	}
	url, _ := s.WebsocketURL(ws)
	c := dial(t, url)
	if err := s.WaitConnections(ctxWait(t), 1); err != nil {
		t.Fatal(err)
	}
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")
	if err := c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(testWait)); err != nil {
		t.Fatal(err)
	}
	var ce *websocket.CloseError
	if err := readClose(t, c); !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
		t.Errorf("echo: %v, want a 1000 close frame", err)
	}
	if d := s.Publish("changelog", []byte(`{}`)); d.Frames != 0 {
		t.Errorf("frames after close: %d", d.Frames)
	}
}

func TestPong(t *testing.T) {
	s := newServer(t, Config{})
	url, _ := s.WebsocketURL(s.AddWebsocket(""))
	c := dial(t, url)
	pongs := make(chan string, 4)
	c.SetPongHandler(func(data string) error { pongs <- data; return nil })
	readErr := make(chan error, 1)
	go func() { readErr <- readClose(t, c) }()
	ping := func(data string) {
		if err := c.WriteControl(websocket.PingMessage, []byte(data), time.Now().Add(testWait)); err != nil {
			t.Fatal(err)
		}
	}
	s.SetPong(false)
	ping("a")
	if err := s.WaitPings(ctxWait(t), 1); err != nil {
		t.Fatal(err)
	}
	s.SetPong(true)
	ping("b")
	select {
	case got := <-pongs:
		if got != "b" {
			t.Errorf("pong %q, want only the pong of the second ping", got)
		}
	case <-time.After(testWait):
		t.Fatal("no pong")
	}
	if s.Pings() != 2 {
		t.Errorf("Pings %d, want 2", s.Pings())
	}
	c.Close()
	<-readErr
}

// TestWaitConnectionsAtMost: it returns once a client's connection has
// ended as the server sees it, not before (WaitConnections(0) returns at
// once, whatever is open).
func TestWaitConnectionsAtMost(t *testing.T) {
	s := newServer(t, Config{})
	url, _ := s.WebsocketURL(s.AddWebsocket(""))
	c := dial(t, url)
	if err := s.WaitConnections(ctxWait(t), 1); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.WaitConnectionsAtMost(short, 0); err == nil {
		t.Fatal("returned while the connection is open")
	}
	c.Close()
	if err := s.WaitConnectionsAtMost(ctxWait(t), 0); err != nil || s.Connections() != 0 {
		t.Fatalf("after the client closed: %v, %d open", err, s.Connections())
	}
}
