package agent

import (
	"fmt"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
)

// callCounts is how many calls were answered 204, and how many attempts
// failed.
func (c *callsFailing) callCounts() (accepted, failed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.posted["call"] {
		if c.accepted[id] {
			accepted++
		}
	}
	return accepted, c.failed
}

// TestSlowTypeHoldsUpNoOtherType: a handler that answers no call within
// --timeout, with 40 calls queued ahead of 20 SMS, still gets every SMS
// long before each call has had its first attempt: calls, whose
// deliveries take every worker, yield to the SMS for the next one, and
// the SMS get the next slot freed. (A black-box review saw no SMS get
// through in 6 minutes behind 300 such calls.) Once the handler answers
// calls, every call is delivered.
func TestSlowTypeHoldsUpNoOtherType(t *testing.T) {
	c := &callsFailing{gen: dialpadtest.NewGenerator(41), hang: true}
	c.start(t, 4, forward.Config{MaxAttempts: forward.Unlimited, Timeout: 300 * time.Millisecond,
		RetryWaitMin: time.Second, RetryWaitMax: time.Hour})
	const calls, sms = 40, 20
	for range calls {
		publishSome(t, c.fake, "call", c.gen.CallLifecycle()[0])
	}
	waitUntil(t, testWait, func() bool { return c.count("call") >= 4 },
		func() string { return fmt.Sprintf("%d calls attempted, want every worker on one", c.count("call")) })
	for range sms {
		publishSome(t, c.fake, "sms", c.gen.SMS())
	}
	waitUntil(t, testWait, func() bool { return c.count("sms") == sms },
		func() string {
			return fmt.Sprintf("%d of %d SMS delivered behind calls that hang", c.count("sms"), sms)
		})
	if n := c.count("call"); n > calls/2 {
		t.Errorf("%d of %d calls had an attempt before the last SMS was delivered: the SMS waited behind them", n, calls)
	}
	c.fix()
	waitUntil(t, 3*testWait, func() bool { n, _ := c.callCounts(); return n == calls },
		func() string {
			n, _ := c.callCounts()
			return fmt.Sprintf("%d of %d calls delivered once the handler answers", n, calls)
		})
	if err := c.r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestHealthyKeysNotBehindRetries: of one type, calls that arrive while
// 30 others keep failing (each attempt held until --timeout, and retried
// within 50 ms, so that their retries always wait for a slot) are
// delivered ahead of those retries, which hold one slot of the 4 while
// first attempts wait.
func TestHealthyKeysNotBehindRetries(t *testing.T) {
	c := &callsFailing{gen: dialpadtest.NewGenerator(43), hang: true, only: map[string]bool{}}
	c.start(t, 4, forward.Config{MaxAttempts: forward.Unlimited, Timeout: 100 * time.Millisecond,
		RetryWaitMin: 10 * time.Millisecond, RetryWaitMax: 50 * time.Millisecond})
	const stuck, healthy = 30, 10
	for range stuck {
		ev := c.gen.CallLifecycle()[0]
		id, _ := eventIDs(ev)
		c.mu.Lock()
		c.only[id] = true
		c.mu.Unlock()
		publishSome(t, c.fake, "call", ev)
	}
	waitUntil(t, testWait, func() bool { _, n := c.callCounts(); return n >= stuck+stuck/2 },
		func() string {
			_, n := c.callCounts()
			return fmt.Sprintf("%d attempts of stuck calls, want their retries under way", n)
		})
	for range healthy {
		publishSome(t, c.fake, "call", c.gen.CallLifecycle()[0])
	}
	waitUntil(t, testWait, func() bool { return c.r.a.Stats().Received == stuck+healthy },
		func() string { return fmt.Sprintf("%d events queued, want %d", c.r.a.Stats().Received, stuck+healthy) })
	_, before := c.callCounts() // the healthy calls are queued
	waitUntil(t, 3*testWait, func() bool { n, _ := c.callCounts(); return n == healthy },
		func() string {
			n, _ := c.callCounts()
			return fmt.Sprintf("%d of %d healthy calls delivered", n, healthy)
		})
	_, after := c.callCounts()
	// The healthy calls' first attempts take the 3 slots retries do not hold,
	// once the attempts in flight end: a few retries go meanwhile. First
	// come, first served, they would wait behind about 26.
	if retries := after - before; retries > 12 {
		t.Errorf("%d attempts of stuck calls went before the %d healthy calls were delivered: those waited behind the retries", retries, healthy)
	}
	if err := c.r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestSlowButWorkingTypeHoldsUpNoOtherType: a handler that takes 300 ms
// to answer each call 2xx, with 40 calls queued ahead of 20 SMS, gets the
// SMS while most calls still wait: the calls hold every other worker, so
// the worker that frees up takes an SMS. First come, first served, the
// SMS would wait for all 40 calls.
func TestSlowButWorkingTypeHoldsUpNoOtherType(t *testing.T) {
	c := &callsFailing{gen: dialpadtest.NewGenerator(47), slow: 300 * time.Millisecond}
	c.start(t, 4, forward.Config{})
	c.fix() // calls are answered 2xx, slowly
	const calls, sms = 40, 20
	for range calls {
		publishSome(t, c.fake, "call", c.gen.CallLifecycle()[0])
	}
	for range sms {
		publishSome(t, c.fake, "sms", c.gen.SMS())
	}
	waitUntil(t, testWait, func() bool { return c.count("sms") == sms },
		func() string { return fmt.Sprintf("%d of %d SMS delivered behind slow calls", c.count("sms"), sms) })
	if n, _ := c.callCounts(); n > calls/2 {
		t.Errorf("%d of %d calls were delivered before the last SMS: the SMS waited behind them", n, calls)
	}
	waitUntil(t, 3*testWait, func() bool { n, _ := c.callCounts(); return n == calls },
		func() string { n, _ := c.callCounts(); return fmt.Sprintf("%d of %d calls delivered", n, calls) })
	if err := c.r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
