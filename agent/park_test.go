package agent

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
)

// callsFailing is an agent on the fake's call, sms and contact events,
// whose handler answers 503 to every call (with all, to every event) and
// 204 to the rest, until fix is called. With hang, it answers no call
// instead: it keeps each until the agent's --timeout ends the attempt.
// With only set, only calls of those call ids fail. With slow, calls that
// do not fail are answered 204 after it.
type callsFailing struct {
	r    *running
	fake *dialpadtest.Server
	gen  *dialpadtest.Generator
	hang bool
	only map[string]bool
	slow time.Duration

	mu       sync.Mutex
	posted   map[string]map[string]bool // event type → delivery ids POSTed
	failed   int                        // POSTs failed (503 or kept)
	accepted map[string]bool            // delivery ids answered 204
	works    bool
	all      bool
}

// failCalls is callsFailing with 2 workers, retrying from minWait up to an
// hour apart.
func failCalls(t *testing.T, all bool, minWait time.Duration, seed int64) *callsFailing {
	c := &callsFailing{gen: dialpadtest.NewGenerator(seed), all: all}
	c.start(t, 2, forward.Config{MaxAttempts: forward.Unlimited, RetryWaitMin: minWait, RetryWaitMax: time.Hour})
	return c
}

// start runs the agent with concurrency workers and the Forwarder of fcfg.
func (c *callsFailing) start(t *testing.T, concurrency int, fcfg forward.Config) {
	t.Helper()
	c.posted, c.accepted = map[string]map[string]bool{}, map[string]bool{}
	handler := httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(handler.Close)
	c.fake = newFake(t, dialpadtest.Config{})
	wsID := c.fake.AddWebsocket("")
	for _, typ := range []string{"call", "sms", "contact"} {
		addSub(t, c.fake, typ, wsID)
	}
	cfg := testConfig()
	cfg.Concurrency = concurrency
	fcfg.URL, fcfg.Concurrency = handler.URL, concurrency
	cfg.Forwarder = newForwarder(t, fcfg)
	c.r = startAgent(t, cfg, handler.URL, WebsocketSource(newClient(t, c.fake, c.fake.APIKey()), dialpad.ID(wsID)))
	waitConns(t, c.fake, 1)
}

func (c *callsFailing) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	typ, id := req.Header.Get(typeHeader), req.Header.Get(idHeader)
	callID, _ := eventIDs(body)
	c.mu.Lock()
	if c.posted[typ] == nil {
		c.posted[typ] = map[string]bool{}
	}
	c.posted[typ][id] = true
	failing := !c.works && (typ == "call" && (c.only == nil || c.only[callID]) || c.all)
	if failing {
		c.failed++
	} else {
		c.accepted[id] = true
	}
	c.mu.Unlock()
	switch {
	case failing && c.hang:
		<-req.Context().Done() // the agent gave up on the attempt
	case failing:
		w.WriteHeader(http.StatusServiceUnavailable)
	case typ == "call" && c.slow > 0:
		select { // a slow handler
		case <-time.After(c.slow):
			w.WriteHeader(http.StatusNoContent)
		case <-req.Context().Done():
		}
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// count is how many events of typ were POSTed, each once however many
// attempts it had.
func (c *callsFailing) count(typ string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.posted[typ])
}

func (c *callsFailing) fix() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.works = true
}

func (c *callsFailing) delivered(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.accepted[id]
}

// stuckCalls publishes the first event of calls calls, each a key of its
// own, and waits until each had its attempt: none holds up another.
func (c *callsFailing) stuckCalls(t *testing.T, calls int) {
	t.Helper()
	for range calls {
		publishSome(t, c.fake, "call", c.gen.CallLifecycle()[0])
	}
	waitUntil(t, testWait, func() bool { return c.count("call") == calls },
		func() string {
			return fmt.Sprintf("%d of %d calls attempted, %d parked: stuck keys hold up the rest", c.count("call"), calls, c.r.a.Stats().Parked)
		})
}

// othersFlow publishes an SMS and a contact and requires both POSTed.
func (c *callsFailing) othersFlow(t *testing.T) {
	t.Helper()
	sms, contacts := c.count("sms"), c.count("contact")
	publish(t, c.fake, "sms", c.gen.SMS(), 1)
	publish(t, c.fake, "contact", c.gen.Contact(), 1)
	waitUntil(t, testWait, func() bool { return c.count("sms") == sms+1 && c.count("contact") == contacts+1 },
		func() string {
			return fmt.Sprintf("sms %d, contact %d POSTs behind %d stuck calls", c.count("sms")-sms, c.count("contact")-contacts, c.count("call"))
		})
}

// parkedAtLeast waits until n deliveries were parked.
func (c *callsFailing) parkedAtLeast(t *testing.T, n int64) {
	t.Helper()
	waitUntil(t, testWait, func() bool { return c.r.a.Stats().Parked >= n },
		func() string { return fmt.Sprintf("%d deliveries parked, want at least %d", c.r.a.Stats().Parked, n) })
}

// TestStuckKeysHoldUpNoOtherKey: more keys waiting for a retry than there
// are workers still hold up no other key's events: a delivery waiting for
// a retry gets a worker of its own. (A black-box review saw 8 failing
// calls stall every SMS and contact until shutdown.)
func TestStuckKeysHoldUpNoOtherKey(t *testing.T) {
	c := failCalls(t, false, time.Hour, 31)
	c.stuckCalls(t, 5)
	c.othersFlow(t)
	if err := c.r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestManyStuckKeysHoldUpNoOtherKey: with more keys waiting for a retry
// than maxWaiting (and the workers) could hold, a handler that works for
// other events still gets them at once: each call beyond maxWaiting gets
// its first attempt and is parked. (A black-box review saw 1,190 failing
// calls hold 261 healthy events up for over 90 s.)
func TestManyStuckKeysHoldUpNoOtherKey(t *testing.T) {
	const calls = maxWaiting + 100
	c := failCalls(t, false, time.Hour, 53)
	c.othersFlow(t) // the handler works
	c.stuckCalls(t, calls)
	c.othersFlow(t)
	c.parkedAtLeast(t, calls-maxWaiting-2)
	if err := c.r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestStuckKeysBehindFailingHandlerHoldUpNoOtherKey: even when the handler
// has not answered 2xx yet, more failing calls than maxWaiting do not hold
// up the SMS and contact after them.
func TestStuckKeysBehindFailingHandlerHoldUpNoOtherKey(t *testing.T) {
	c := failCalls(t, false, time.Hour, 61)
	c.stuckCalls(t, maxWaiting+50)
	c.othersFlow(t)
	if err := c.r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestHandlerBackEndsThePace: behind a handler that answered nothing
// well, parked retries are paced (here 3.5 s apart, 3 minutes for 50); its
// first 2xx puts every one back on its own backoff (1-2 s after its
// attempt), so each is delivered without waiting for its pace.
func TestHandlerBackEndsThePace(t *testing.T) {
	const calls = maxWaiting + 50
	c := failCalls(t, true, time.Second, 71)
	c.stuckCalls(t, calls)
	c.parkedAtLeast(t, calls-maxWaiting-2)
	var parked []string
	for _, rec := range c.r.logs.find(t, "DEBUG", "delivery parked until its retry is due") {
		parked = append(parked, rec.str("id"))
	}
	c.fix()
	publish(t, c.fake, "sms", c.gen.SMS(), 1) // the handler's first 2xx
	waitUntil(t, testWait, func() bool {
		for _, id := range parked {
			if !c.delivered(id) {
				return false
			}
		}
		return true
	}, func() string {
		n := 0
		for _, id := range parked {
			if c.delivered(id) {
				n++
			}
		}
		return fmt.Sprintf("%d of the %d parked calls delivered after the handler's return", n, len(parked))
	})
	if err := c.r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestParkedEventsRetriedInOrder: events parked while more than maxWaiting
// keys wait for a retry come back from the durable spool when due and are
// delivered, every one, each call's in arrival order: a call's second
// event waits behind its parked first.
func TestParkedEventsRetriedInOrder(t *testing.T) {
	const calls, perCall = maxWaiting + 60, 2
	var mu sync.Mutex
	works := false
	got := map[string][]string{} // call id → event ids delivered, in order
	handler := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		mu.Lock()
		defer mu.Unlock()
		if req.Header.Get(typeHeader) == "call" && !works {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		callID, eventID := eventIDs(body)
		got[callID] = append(got[callID], eventID)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(handler.Close)
	disk, stopDisk := runDisk(t)
	fake := newFake(t, dialpadtest.Config{})
	wsID := fake.AddWebsocket("")
	addSub(t, fake, "call", wsID)
	addSub(t, fake, "sms", wsID)
	cfg := testConfig()
	cfg.Queue = disk
	cfg.Forwarder = newForwarder(t, forward.Config{URL: handler.URL, MaxAttempts: forward.Unlimited,
		// Retries 2 s apart: 1,024 waiting on workers, retried more often,
		// would take every POST slot from the first attempts under -race.
		RetryWaitMin: 2 * time.Second, RetryWaitMax: 2 * time.Second})
	r := startAgent(t, cfg, handler.URL, WebsocketSource(newClient(t, fake, fake.APIKey()), dialpad.ID(wsID)))
	waitConns(t, fake, 1)
	gen := dialpadtest.NewGenerator(59)
	publish(t, fake, "sms", gen.SMS(), 1) // the handler works: parked calls retry on their own clocks
	want := map[string][]string{}
	var lifecycles [][][]byte
	for range calls {
		lifecycles = append(lifecycles, gen.CallLifecycle()[:perCall])
	}
	for step := range perCall { // interleaved: every call's first event, then every call's second
		for _, events := range lifecycles {
			publishSome(t, fake, "call", events[step])
			callID, eventID := eventIDs(events[step])
			want[callID] = append(want[callID], eventID)
		}
	}
	// All but the 1,024 waiting on workers, and at most one per worker
	// that went past them at once, are parked. The waits below are
	// deadlines for a condition, not the pace under test: a minute each,
	// since 2,168 first attempts beside 1,024 retries every 2 s, under
	// -race on a loaded 2-core machine, may take longer than testWait.
	waitUntil(t, time.Minute, func() bool { return r.a.Stats().Parked >= calls-maxWaiting-int64(cfg.Concurrency) },
		func() string {
			return fmt.Sprintf("%d parked, want at least %d", r.a.Stats().Parked, calls-maxWaiting-int64(cfg.Concurrency))
		})
	mu.Lock()
	works = true
	mu.Unlock()
	waitUntil(t, time.Minute, func() bool { return r.a.Stats().Delivered == 1+calls*perCall },
		func() string { return fmt.Sprintf("stats %+v, want %d delivered", r.a.Stats(), 1+calls*perCall) })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := stopDisk(); err != nil {
		t.Fatalf("spool Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for callID, ids := range want {
		if !slices.Equal(got[callID], ids) {
			t.Fatalf("call %s delivered %v, want %v in that order", callID, got[callID], ids)
		}
	}
}

// TestPoolParkingRules: a wait is parked when maxWaiting others already
// wait; the handler is working while it answered 2xx within parkWithin,
// and the first 2xx after that is reported as its return; behind a handler
// that is not working, parked retries are spaced MaxRetryWait/maxWaiting
// apart.
func TestPoolParkingRules(t *testing.T) {
	p := &pool{}
	for _, tc := range []struct {
		waiting int64
		self    bool
		want    bool
	}{
		{maxWaiting - 1, false, false},
		{maxWaiting, false, true},
		{maxWaiting, true, false}, // itself among them
		{maxWaiting + 1, true, true},
	} {
		p.waiting.Store(tc.waiting)
		if got := p.parks(tc.self); got != tc.want {
			t.Errorf("parks(self %v) with %d waiting = %v, want %v", tc.self, tc.waiting, got, tc.want)
		}
	}

	if p.working() {
		t.Error("working before any 2xx")
	}
	if !p.delivery() {
		t.Error("the first 2xx is not reported as the handler's return")
	}
	if !p.working() || p.delivery() {
		t.Error("after a 2xx: not working, or the next 2xx reported as a return too")
	}
	p.delivered.Store(time.Now().Add(-parkWithin - time.Second).UnixNano())
	if p.working() || !p.delivery() {
		t.Error("a 2xx after parkWithin without one: working before it, or not reported as a return")
	}

	const maxWait = 1024 * time.Millisecond // a step of 1ms
	start := time.Now()
	first := p.paced(time.Time{}, maxWait)
	second := p.paced(time.Time{}, maxWait)
	late := start.Add(time.Hour)
	if got := p.paced(late, maxWait); !got.Equal(late) {
		t.Errorf("paced of a retry due in an hour = %v, want it unchanged", got.Sub(start))
	}
	if first.Before(start) || second.Sub(first) != time.Millisecond {
		t.Errorf("paced slots %v and %v after the start, want 1ms apart", first.Sub(start), second.Sub(start))
	}
	for range 100_000 { // a backlog behind the dead handler: paced over 100s
		p.paced(time.Time{}, maxWait)
	}
	p.delivered.Store(0)
	if !p.delivery() {
		t.Fatal("the handler's return not reported")
	}
	if next := p.paced(time.Time{}, maxWait); time.Until(next) > time.Second {
		t.Errorf("after the handler's return, the next paced retry is %v off, want the pace started afresh", time.Until(next))
	}
}

// publishSome publishes one event and requires it to reach a connection:
// with a thousand events, a second one (a reconnect under load) may carry
// it too, and the agent drops the copy.
func publishSome(t *testing.T, s *dialpadtest.Server, typ string, event []byte) {
	t.Helper()
	if d := s.Publish(typ, event); d.Frames == 0 {
		t.Fatalf("Publish(%s) reached no connection", typ)
	}
}
