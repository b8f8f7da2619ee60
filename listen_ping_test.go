package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestListenPingTimingConfigurable: whether and how fast Dialpad answers
// pings is undocumented (API.md §5, Q5), so the ping interval and the pong
// deadline are flags. A server that answers none has its connection
// replaced within the --pong-wait given, and events still reach the
// handler; a ping interval not below the deadline is refused at start.
func TestListenPingTimingConfigurable(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	srv.SetPong(false)
	h := newHook(t, nil)
	r := start(t, listenArgs(srv, wsID, h.URL, "--ping-interval", "50ms", "--pong-wait", "400ms")...)
	r.waitConnected(t, srv, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.WaitHandshakes(ctx, 3); err != nil {
		t.Fatalf("no replacement connection while the server answers no pings: %v\n%s", err, r.stdout.String())
	}
	if !strings.Contains(r.stdout.String(), "no pong") {
		t.Errorf("log does not say why the connection was replaced:\n%s", r.stdout.String())
	}
	srv.SetPong(true)
	r.waitConnected(t, srv, 1)
	typ, ev := dialpadtest.NewGenerator(7).Next()
	for deadline := time.Now().Add(10 * time.Second); srv.Publish(typ, ev).Frames == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no connection to publish on")
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
	h.waitRequests(t, 1, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("listen: %v", err)
	}

	err := runArgs(context.Background(), &syncBuffer{}, &syncBuffer{}, append([]string{"dialpad-tunnel"},
		listenArgs(srv, wsID, h.URL, "--ping-interval", "1m", "--pong-wait", "30s")...))
	if err == nil || !strings.HasPrefix(err.Error(), "--ping-interval 1m0s: want less than half --pong-wait (30s)") {
		t.Errorf("ping interval above the pong deadline: got %v", err)
	}
}
