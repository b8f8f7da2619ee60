package main

import (
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestNoSpoolQueueBoundPausesReading: with --no-spool, the events waiting
// in memory behind a failing handler stop at --queue-max-mib: reading the
// websocket pauses (said in the log and on the status line), what Dialpad
// sends meanwhile waits in the connection, and once the handler is back
// every event is delivered once: none dropped, the process exits 0.
func TestNoSpoolQueueBoundPausesReading(t *testing.T) {
	bin := buildAgent(t)
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	var down atomic.Bool
	down.Store(true)
	var mu sync.Mutex
	answered := map[int]bool{} // the requests (by number) answered 2xx
	h := newHook(t, func(n int) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		mu.Lock()
		answered[n] = true
		mu.Unlock()
		return http.StatusOK
	})
	p := startAgent(t, bin, listenArgs(srv, wsID, h.URL, "--no-spool", "--queue-max-mib", "1", "--status-interval", "100ms",
		"--retry-wait-min", "10ms", "--retry-wait-max", "50ms")...)
	p.waitConnected(t, srv)
	gen := dialpadtest.NewGenerator(31)
	var bodies [][]byte
	size := 0
	for size < 3<<20 { // three times the bound
		b := gen.SMS()
		bodies = append(bodies, b)
		size += len(b)
	}
	published := make(chan int, 1)
	go func() { // may wait while the agent does not read
		sent := 0
		for _, b := range bodies {
			sent += srv.Publish("sms", b).Frames
		}
		published <- sent
	}()
	p.stdout.waitFor(t, "in-memory queue full (--no-spool): reading the websocket pauses", 30*time.Second)
	p.stdout.waitFor(t, `paused="in-memory queue full for `, 30*time.Second)
	down.Store(false)
	if sent := <-published; sent != len(bodies) {
		t.Fatalf("%d of %d events written to the connection", sent, len(bodies))
	}
	p.stdout.waitFor(t, "in-memory queue down to half its bound", 30*time.Second)
	want := map[[32]byte]bool{}
	for _, b := range bodies {
		want[digest(b)] = true
	}
	delivered := map[[32]byte]int{} // 2xx answers per event
	for deadline := time.After(60 * time.Second); len(delivered) < len(want); {
		delivered = map[[32]byte]int{}
		reqs := h.waitRequests(t, 1, time.Second)
		mu.Lock()
		for i, r := range reqs {
			if answered[i+1] {
				delivered[digest(r.body)]++
			}
		}
		mu.Unlock()
		select {
		case <-h.arrived:
		case <-deadline:
			t.Fatalf("%d of %d events delivered after the handler came back", len(delivered), len(want))
		}
	}
	if err := p.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("listen: %v, want exit 0 (nothing lost)\n%s", err, p.stderr.String())
	}
	for d, n := range delivered {
		if !want[d] || n != 1 {
			t.Fatalf("a delivery not byte-identical to any published event, or delivered %d times", n)
		}
	}
}
