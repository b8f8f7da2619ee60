package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
	"github.com/gorilla/websocket"
)

// A rotation whose refresh is slow (a 429 or 5xx retried by the REST
// client, for longer than the duplicate checks stay armed) still has the
// old connection's frames remembered from the new connection's dial on:
// an event the server sends on both, whose copy on the old connection is
// read before the new connection's handshake reply, reaches the handler
// once. (Before, checks were armed again only once the new connection had
// opened, and the old connection's copy, read just before, was not
// remembered: the event was forwarded twice.)
func TestSlowRefreshEventOnBothForwardedOnce(t *testing.T) {
	recv := newReceiver(t, nil)
	var (
		mu    sync.Mutex
		n     int
		first *websocket.Conn // the old connection, server side
	)
	var upgrader websocket.Upgrader
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		n++
		i, old := n, first
		mu.Unlock()
		if i == 2 {
			// The server registers the new connection and sends the
			// event on both: the old connection's copy arrives (and is
			// delivered) before the new one's handshake reply, its copy
			// behind that.
			if old == nil {
				t.Errorf("second handshake before the first connection was served")
				return
			}
			if err := old.WriteMessage(websocket.TextMessage, []byte(sampleCall)); err != nil {
				t.Errorf("write on the old connection: %v", err)
			}
			deadline := time.Now().Add(testWait)
			for len(recv.deliveries()) == 0 {
				if time.Now().After(deadline) {
					t.Errorf("the old connection's copy not delivered within %s", testWait)
					break
				}
				time.Sleep(time.Millisecond) // polling a condition, with a deadline
			}
		}
		c, err := upgrader.Upgrade(w, req, nil)
		if err != nil {
			return
		}
		defer c.Close()
		switch i {
		case 1:
			mu.Lock()
			first = c
			mu.Unlock()
		case 2:
			c.WriteMessage(websocket.TextMessage, []byte(sampleCall))
		}
		readUntilClosed(c)
	}))
	t.Cleanup(srv.Close)
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/events/"
	conns := func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
	cfg := testConfig()
	cfg.HandshakeTimeout = 100 * time.Millisecond
	cfg.HandoverWait = 100 * time.Millisecond
	cfg.CloseWait = 100 * time.Millisecond
	armFor := cfg.HandshakeTimeout + cfg.HandoverWait + cfg.CloseWait
	fetches := 0
	src := Source{Name: "slow refresh", Fetch: func(ctx context.Context) (string, error) {
		fetches++ // one connect goroutine at a time
		if fetches == 2 {
			// The refresh at the rotation takes longer than the checks
			// armed at its start stay on.
			select {
			case <-time.After(armFor + 200*time.Millisecond):
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		life := time.Hour
		if fetches == 1 {
			life = 400 * time.Millisecond // rotated about 100ms before
		}
		claims := fmt.Sprintf(`{"exp":%.3f}`, float64(time.Now().Add(life).UnixMilli())/1000)
		tok, err := signing.SignHS256([]byte(claims), "k")
		return wsURL + tok, err
	}}
	r := startAgent(t, cfg, recv.url, src)
	waitUntil(t, testWait, func() bool { return conns() >= 2 }, func() string { return "no rotation" })
	r.logs.waitFind(t, 1, "DEBUG", "previous connection closed")
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := bodies(recv.deliveries())[sampleCall]; got != 1 {
		t.Errorf("the event sent on both connections was delivered %d times, want 1; log:\n%s", got, r.logs)
	}
}

// A refresh refused with 429 and a Retry-After is tried again no sooner
// than the header asked (up to the longest backoff), not after the first
// backoff step: the REST client gave up on its own retries, and an agent
// that asked again at once would only be refused again.
func TestRefreshHonoursRetryAfter(t *testing.T) {
	fake := newFake(t, dialpadtest.Config{})
	wsID := fake.AddWebsocket("")
	addSub(t, fake, "sms", wsID)
	fake.FailNextREST(1, http.StatusTooManyRequests, time.Second)
	recv := newReceiver(t, nil)
	cfg := testConfig()
	cfg.BackoffMax = 10 * time.Second
	r := startAgent(t, cfg, recv.url, WebsocketSource(newClient(t, fake, fake.APIKey()), dialpad.ID(wsID)))
	waitConns(t, fake, 1)
	fails := r.logs.find(t, "WARN", "connect failed")
	if len(fails) != 1 {
		t.Fatalf("connect failed warnings = %v, want one", fails)
	}
	if wait, err := time.ParseDuration(fails[0].str("retry_in")); err != nil || wait < time.Second {
		t.Errorf("retry_in = %q after a 429 with Retry-After: 1, want 1s or more", fails[0].str("retry_in"))
	}
}
