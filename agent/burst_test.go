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
)

// TestStuckBurstAtMaxWaitingKeepsWorkers: when maxWaiting-1 keys already
// wait for a retry and a burst of failing first attempts fills every
// worker, the burst does not take the workers with it: the other keys'
// events still go several at once. (Each of the burst saw fewer than
// maxWaiting waiting and went on to wait on its worker, but only the
// first got a worker to take its place: the SMS behind went one at a
// time, for as long as the burst's first 100 attempts took.)
func TestStuckBurstAtMaxWaitingKeepsWorkers(t *testing.T) {
	const workers, prefill = 8, maxWaiting - 1
	var (
		mu       sync.Mutex
		calls    = map[string]int{} // delivery id -> its order among calls
		burstIn  int
		burstGo  = make(chan struct{})
		smsIn    int
		smsMost  int
		smsGo    = make(chan struct{})
		released bool
	)
	handler := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		id := req.Header.Get(idHeader)
		if req.Header.Get(typeHeader) == "sms" {
			mu.Lock()
			smsIn++
			smsMost = max(smsMost, smsIn)
			mu.Unlock()
			select {
			case <-smsGo:
			case <-req.Context().Done():
			}
			mu.Lock()
			smsIn--
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
			return
		}
		mu.Lock()
		n, ok := calls[id]
		if !ok {
			n = len(calls) + 1
			calls[id] = n
		}
		if n > prefill { // the burst: every worker holds one, then all fail together
			burstIn++
			if burstIn == workers {
				close(burstGo)
			}
			mu.Unlock()
			select {
			case <-burstGo:
			case <-req.Context().Done():
			}
		} else {
			mu.Unlock()
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(handler.Close)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if !released {
			close(smsGo)
		}
	})
	fake := newFake(t, dialpadtest.Config{})
	wsID := fake.AddWebsocket("")
	addSub(t, fake, "call", wsID)
	addSub(t, fake, "sms", wsID)
	cfg := testConfig()
	cfg.Concurrency = workers
	cfg.Forwarder = newForwarder(t, forward.Config{URL: handler.URL, Concurrency: workers, MaxAttempts: forward.Unlimited,
		RetryWaitMin: time.Hour, RetryWaitMax: time.Hour})
	r := startAgent(t, cfg, handler.URL, WebsocketSource(newClient(t, fake, fake.APIKey()), dialpad.ID(wsID)))
	waitConns(t, fake, 1)
	gen := dialpadtest.NewGenerator(97)
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(calls) }

	for range prefill {
		publishSome(t, fake, "call", gen.CallLifecycle()[0])
	}
	waitUntil(t, testWait, func() bool { return count() == prefill },
		func() string { return fmt.Sprintf("%d calls attempted", count()) })
	for range workers {
		publishSome(t, fake, "call", gen.CallLifecycle()[0])
	}
	select {
	case <-burstGo:
	case <-time.After(testWait):
		t.Fatal("the burst never held every worker")
	}
	waitUntil(t, testWait, func() bool { return count() == prefill+workers },
		func() string { return fmt.Sprintf("%d calls attempted", count()) })

	// Healthy SMS, each its own key: the handler keeps them until they
	// all came, as many at once as there are workers.
	for range workers {
		publish(t, fake, "sms", gen.SMS(), 1)
	}
	most := func() int { mu.Lock(); defer mu.Unlock(); return smsMost }
	waitUntil(t, testWait, func() bool { return most() >= workers/2 },
		func() string {
			return fmt.Sprintf("at most %d SMS POSTed at once with %d workers: the stuck burst took the workers", most(), workers)
		})
	mu.Lock()
	released = true
	close(smsGo)
	mu.Unlock()
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
