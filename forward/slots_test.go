package forward

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// slotQueue is how many attempts wait for one of f's slots.
func slotQueue(f *Forwarder) int {
	s := f.client.HTTPClient.Transport.(*limited).slots
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.order {
		n += len(l.first) + len(l.retry)
	}
	return n
}

// held is a handler that keeps each request whose body starts with
// "hold" until let is called with that body (or releaseAll), and answers
// every request 204.
type held struct {
	*receiver
	mu      sync.Mutex
	release map[string]chan struct{} // by body
	all     chan struct{}
	once    sync.Once
}

func newHeld(t *testing.T) *held {
	h := &held{release: map[string]chan struct{}{}, all: make(chan struct{})}
	h.receiver = newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if body := string(h.recorded()[n-1].body); strings.HasPrefix(body, "hold") {
			select {
			case <-h.gate(body):
			case <-h.all:
			case <-r.Context().Done():
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})
	t.Cleanup(h.releaseAll) // before the server closes, should the test fail first
	return h
}

func (h *held) gate(body string) chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.release[body] == nil {
		h.release[body] = make(chan struct{})
	}
	return h.release[body]
}

// let lets the held request with body go.
func (h *held) let(body string) { close(h.gate(body)) }

// releaseAll lets every held request go, now and from now on.
func (h *held) releaseAll() {
	h.once.Do(func() { close(h.all) })
}

// order is the bodies the handler got, in the order it got them.
func (h *held) order() []string {
	var out []string
	for _, x := range h.recorded() {
		out = append(out, string(x.body))
	}
	return out
}

// waitFor waits until cond holds, for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// deliveries runs Deliver calls and collects their outcomes.
type deliveries struct {
	t  *testing.T
	f  *Forwarder
	wg sync.WaitGroup
}

// slotted is a held handler and deliveries to it, concurrency at once.
func slotted(t *testing.T, concurrency int) (*held, *deliveries) {
	h := newHeld(t)
	// A minute's timeout: no held request is retried, which would change the order.
	return h, &deliveries{t: t, f: newForwarder(t, h.URL, Config{Concurrency: concurrency, Timeout: time.Minute})}
}

// start delivers body as an event of typ with prior attempts made before,
// on a goroutine, and waits until it is sent (hold) or waits for a slot.
func (d *deliveries) start(ctx context.Context, body, typ string, prior int, hold *held) {
	d.t.Helper()
	queued, sent := slotQueue(d.f), len(hold.recorded())
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		res := d.f.Deliver(ctx, Request{Body: []byte(body), Type: typ, Prior: prior})
		if res.Err != nil && ctx.Err() == nil {
			d.t.Errorf("%s: %v", body, res.Err)
		}
	}()
	waitFor(d.t, body+" to wait for a slot or be sent", func() bool {
		return slotQueue(d.f) == queued+1 || len(hold.recorded()) == sent+1
	})
}

// TestSlotsGoFirstToTheLeastServedType: while calls the handler is
// slow to answer hold every slot, with more calls waiting for one, the
// next slot freed goes to an SMS: a handler slow for one type holds up no
// other. An attempt that stops waiting gives its place up.
func TestSlotsGoFirstToTheLeastServedType(t *testing.T) {
	h, d := slotted(t, 2)
	ctx := context.Background()
	d.start(ctx, "hold-1", "call", 0, h)
	d.start(ctx, "hold-2", "call", 0, h)
	d.start(ctx, "call-3", "call", 0, h)
	gone, cancel := context.WithCancel(ctx)
	d.start(gone, "call-gone", "call", 0, h)
	d.start(ctx, "call-4", "call", 0, h)
	d.start(ctx, "sms-1", "sms", 0, h)
	cancel()
	waitFor(t, "the cancelled attempt to leave the queue", func() bool { return slotQueue(d.f) == 3 })
	h.let("hold-1")
	waitFor(t, "the waiting attempts to be sent", func() bool { return len(h.recorded()) == 5 })
	h.releaseAll()
	d.wg.Wait()
	want := []string{"hold-1", "hold-2", "sms-1", "call-3", "call-4"}
	if got := h.order(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("POSTs in order %q, want %q: the SMS goes before the calls waiting, the cancelled call not at all", got, want)
	}
}

// TestSlotsGoToFirstAttemptsBeforeRetries: of one type, a waiting first
// attempt gets a slot before a waiting retry, so an event that arrived
// healthy does not wait behind the retries of failing ones; but with
// fewer than 4 slots every retryShare-th slot goes to a retry while both
// wait.
func TestSlotsGoToFirstAttemptsBeforeRetries(t *testing.T) {
	h, d := slotted(t, 1)
	ctx := context.Background()
	d.start(ctx, "hold", "call", 0, h)
	for _, r := range []string{"retry-1", "retry-2", "retry-3"} {
		d.start(ctx, r, "call", 1, h)
	}
	for _, r := range []string{"first-1", "first-2", "first-3", "first-4", "first-5"} {
		d.start(ctx, r, "call", 0, h)
	}
	h.releaseAll()
	d.wg.Wait()
	want := []string{"hold", "first-1", "first-2", "first-3", "retry-1", "first-4", "first-5", "retry-2", "retry-3"}
	if got := h.order(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("POSTs in order %q, want %q", got, want)
	}
}

// TestRetriesHoldAQuarterOfTheSlots: with 4 slots, while first attempts of
// a type wait, its retries may hold one slot: with a retry holding one
// (a handler that keeps failing calls until the timeout), every other slot
// freed goes to first attempts; the slot it gives back goes to the next
// retry.
func TestRetriesHoldAQuarterOfTheSlots(t *testing.T) {
	run := func(let string, want ...string) {
		t.Helper()
		h, d := slotted(t, 4)
		ctx := context.Background()
		d.start(ctx, "hold-retry", "call", 1, h)
		for _, b := range []string{"hold-1", "hold-2", "hold-3"} {
			d.start(ctx, b, "call", 0, h)
		}
		d.start(ctx, "retry-1", "call", 1, h)
		d.start(ctx, "retry-2", "call", 1, h)
		d.start(ctx, "first-1", "call", 0, h)
		d.start(ctx, "first-2", "call", 0, h)
		d.start(ctx, "first-3", "call", 0, h)
		h.let(let)
		waitFor(t, "the waiting attempts to be sent", func() bool { return len(h.recorded()) == 9 })
		h.releaseAll()
		d.wg.Wait()
		want = append([]string{"hold-retry", "hold-1", "hold-2", "hold-3"}, want...)
		if got := h.order(); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("after %s: POSTs in order %q, want %q", let, got, want)
		}
	}
	run("hold-1", "first-1", "first-2", "first-3", "retry-1", "retry-2")
	run("hold-retry", "retry-1", "retry-2", "first-1", "first-2", "first-3") // the retries' slot stays theirs
}

// advance moves the clock of f's slots on by d, as if d had passed.
func advance(f *Forwarder, d time.Duration) {
	s := f.client.HTTPClient.Transport.(*limited).slots
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch = s.epoch.Add(-d)
}

// TestSlotsShareTimeNotCount: the next slot goes to the type that has held
// slots for the least time, not to the one with the fewest in flight: an
// SMS that held its slot 300 ms comes after a call that has held one for
// a moment. So a type whose attempts end at once (retries failing fast,
// in numbers) cannot take every slot from one whose attempts take longer.
func TestSlotsShareTimeNotCount(t *testing.T) {
	h, d := slotted(t, 2)
	ctx := context.Background()
	d.start(ctx, "hold-sms", "sms", 0, h)
	advance(d.f, 300*time.Millisecond) // the SMS holds its slot that long
	d.start(ctx, "hold-call", "call", 0, h)
	d.start(ctx, "sms-1", "sms", 0, h)
	d.start(ctx, "call-1", "call", 0, h)
	h.let("hold-sms")
	waitFor(t, "the waiting attempts to be sent", func() bool { return len(h.recorded()) == 4 })
	h.releaseAll()
	d.wg.Wait()
	want := []string{"hold-sms", "hold-call", "call-1", "sms-1"}
	if got := h.order(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("POSTs in order %q, want %q: the call, whose type held a slot for less time, first", got, want)
	}
}

// A slot's answer closed twice (checkRetry closes it, then retryablehttp
// drains and closes it again) gives its slot back once, and reads nothing
// more once closed.
func TestSlotBodyClosedTwice(t *testing.T) {
	s := newSlots(2)
	start, ok := s.acquire("call", false, nil, nil, time.Time{})
	if !ok {
		t.Fatal("no free slot")
	}
	b := &slotBody{ReadCloser: io.NopCloser(strings.NewReader("rest of the answer")), slots: s, class: "call", start: start}
	b.Close()
	b.Close()
	s.mu.Lock()
	free := s.free
	s.mu.Unlock()
	if free != 2 {
		t.Errorf("%d slots free after two Closes, want the 2 there are", free)
	}
	if n, err := b.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Errorf("Read after Close = %d, %v; want 0, EOF", n, err)
	}
}

// TestSlotsServedAloneEarnsNoDebt: an hour in which SMS alone asked for
// slots counts for nothing against calls that start once the SMS are
// done: an SMS asking again waits behind no hour of calls. (The calls
// kept their untouched start, and took every slot freed while both
// waited until they had held slots for as long as the SMS had alone.)
func TestSlotsServedAloneEarnsNoDebt(t *testing.T) {
	h, d := slotted(t, 1)
	ctx := context.Background()
	d.start(ctx, "hold-sms", "sms", 0, h)
	advance(d.f, time.Hour) // SMS alone, for an hour
	h.let("hold-sms")
	waitFor(t, "the SMS's slot to be free", func() bool { return slotQueue(d.f) == 0 && len(h.recorded()) == 1 })
	d.wg.Wait()
	d.start(ctx, "hold-call", "call", 0, h)
	d.start(ctx, "sms-1", "sms", 0, h)
	d.start(ctx, "call-1", "call", 0, h)
	h.let("hold-call")
	waitFor(t, "the waiting attempts to be sent", func() bool { return len(h.recorded()) == 4 })
	h.releaseAll()
	d.wg.Wait()
	want := []string{"hold-sms", "hold-call", "sms-1", "call-1"}
	if got := h.order(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("POSTs in order %q, want %q: the SMS, which waited longer, first", got, want)
	}
}
