package main

import (
	"net/http"
	"strconv"
	"strings"
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

// TestNoSpoolFullQueueNamesItsRoute: with --no-spool and routes, the
// warning that a full queue pauses reading, and the status lines while it
// does, name the route whose handler holds it up: reading pauses for
// every route, and the healthy ones' events wait too. (Neither said
// which route's queue was full.)
func TestNoSpoolFullQueueNamesItsRoute(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	def := newHook(t, nil)
	calls := newHook(t, func(int) int { return http.StatusServiceUnavailable })
	r := start(t, listenArgs(srv, wsID, def.URL, "--no-spool", "--queue-max-mib", "1", "--route", "call="+calls.URL,
		"--status-interval", "100ms", "--retry-wait-max", "20ms", "--drain-timeout", "1s")...)
	r.waitConnected(t, srv, 1)
	pad := strings.Repeat("x", 300<<10)
	published := make(chan struct{})
	go func() { // may wait while the agent does not read
		defer close(published)
		for i := range 5 { // 1.5 MiB of calls
			srv.Publish("call", []byte(`{"call_id":`+strconv.Itoa(i+1)+`,"state":"hangup","pad":"`+pad+`"}`))
		}
	}()
	r.stdout.waitFor(t, "in-memory queue full (--no-spool)", 10*time.Second)
	mustContain(t, logLine(t, r.stdout.String(), "in-memory queue full (--no-spool)"), "route=call")
	r.stdout.waitFor(t, `paused="in-memory queue of route call full for `, 10*time.Second)
	if err := r.stop(t); err == nil || !strings.Contains(err.Error(), "events were lost") {
		t.Errorf("listen = %v, want the events in memory reported lost", err)
	}
	<-published
}
