package agent

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// holdFirstDelivered is a slog.Handler that holds the first "event
// delivered" line until the handler's second request arrives, or hold
// passes, and says which came.
type holdFirstDelivered struct {
	slog.Handler
	second   <-chan struct{}
	hold     time.Duration
	once     *sync.Once
	overtook chan bool
}

func (h holdFirstDelivered) Enabled(context.Context, slog.Level) bool { return true }

func (h holdFirstDelivered) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "event delivered" {
		h.once.Do(func() {
			select {
			case <-h.second:
				h.overtook <- true
			case <-time.After(h.hold):
				h.overtook <- false
			}
		})
	}
	return h.Handler.Handle(ctx, r)
}

// TestDeliveredLineBeforeKeysNext: a delivery's `<--` line is written
// before the key's next event may go, so a call's lines come in its
// order. The line came after the Ack that frees the key: a review saw a
// call's "hangup" result printed before its "connected" one.
func TestDeliveredLineBeforeKeysNext(t *testing.T) {
	fake := newFake(t, dialpadtest.Config{})
	wsID := fake.AddWebsocket("")
	addSub(t, fake, "call", wsID)
	second := make(chan struct{})
	var n int
	var mu sync.Mutex
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		if n == 2 {
			close(second)
		}
		mu.Unlock()
	}))
	t.Cleanup(h.Close)
	cfg := testConfig()
	cfg.Forwarder = newForwarder(t, forward.Config{URL: h.URL, Timeout: 5 * time.Second, MaxAttempts: 1})
	cfg.Queue = spool.NewMemory(spool.MemoryConfig{})
	cfg.Sources = []Source{WebsocketSource(newClient(t, fake, fake.APIKey()), dialpad.ID(wsID))}
	overtook := make(chan bool, 1)
	cfg.Logger = slog.New(holdFirstDelivered{Handler: slog.DiscardHandler, second: second, hold: 300 * time.Millisecond,
		once: &sync.Once{}, overtook: overtook})
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitConns(t, fake, 1)
	call := dialpadtest.NewGenerator(9).CallLifecycle()
	fake.Publish("call", call[0])
	fake.Publish("call", call[1])
	select {
	case o := <-overtook:
		if o {
			t.Error("the call's second event was delivered while its first one's line was still to be written")
		}
	case <-time.After(testWait):
		t.Fatal("no delivery was logged")
	}
}
