package agent

import (
	"fmt"
	"io"
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

// TestMaxAgeStopsAttemptWaitingForSlot: no attempt starts past --max-age,
// with the spool or without. An SMS whose first attempt waits for the only
// slot (a call's retry holds it) until past its max age is a dead letter,
// never POSTed. With --no-spool it used to be POSTed once the slot came
// free, however late.
func TestMaxAgeStopsAttemptWaitingForSlot(t *testing.T) {
	for _, durable := range []bool{false, true} {
		t.Run(fmt.Sprintf("durable=%v", durable), func(t *testing.T) {
			var (
				mu      sync.Mutex
				calls   int
				sms     int
				retryIn = make(chan struct{})
				release = make(chan struct{})
			)
			handler := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				io.Copy(io.Discard, req.Body)
				mu.Lock()
				if req.Header.Get(typeHeader) == "sms" {
					sms++
					mu.Unlock()
					w.WriteHeader(http.StatusNoContent)
					return
				}
				calls++
				n := calls
				mu.Unlock()
				if n == 1 {
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				close(retryIn) // the call's retry holds the only slot
				select {
				case <-release:
				case <-req.Context().Done():
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			t.Cleanup(handler.Close)
			fake := newFake(t, dialpadtest.Config{})
			wsID := fake.AddWebsocket("")
			addSub(t, fake, "call", wsID)
			addSub(t, fake, "sms", wsID)
			cfg := testConfig()
			cfg.Concurrency = 1
			cfg.MaxAge = 300 * time.Millisecond
			cfg.Queue = spool.NewMemory(spool.MemoryConfig{})
			if durable {
				cfg.Queue, _ = runDisk(t)
			}
			cfg.Forwarder = newForwarder(t, forward.Config{URL: handler.URL, Concurrency: 1, MaxAttempts: forward.Unlimited,
				RetryWaitMin: 5 * time.Millisecond, RetryWaitMax: 5 * time.Millisecond})
			r := startAgent(t, cfg, handler.URL, WebsocketSource(newClient(t, fake, fake.APIKey()), dialpad.ID(wsID)))
			waitConns(t, fake, 1)
			gen := dialpadtest.NewGenerator(5)
			publishSome(t, fake, "call", gen.CallLifecycle()[0])
			<-retryIn
			publish(t, fake, "sms", gen.SMS(), 1)
			// The SMS is read, and its attempt waits for the slot, past its max age.
			waitUntil(t, testWait, func() bool { return r.a.Stats().Received == 2 }, func() string { return "the SMS was not stored" })
			arrived := time.Now()
			waitUntil(t, testWait, func() bool { return time.Since(arrived) > 2*cfg.MaxAge }, func() string { return "" })
			close(release)
			waitUntil(t, testWait, func() bool { st := r.a.Stats(); return st.Delivered+st.Failed == 2 },
				func() string { return fmt.Sprintf("stats %+v, want both events ended", r.a.Stats()) })
			mu.Lock()
			defer mu.Unlock()
			if st := r.a.Stats(); sms != 0 || st.Failed != 1 {
				t.Errorf("SMS POSTed %d times past its max age, %d dead letters; want none POSTed, one dead letter", sms, st.Failed)
			}
		})
	}
}
