package spool

import (
	"context"
	"testing"
	"time"
)

// shareIndex is an index with a share of 2 and keys added; expect takes
// the next events and requires their keys.
type shareIndex struct {
	*index
	t *testing.T
}

func newShareIndex(t *testing.T, share int, keys ...string) shareIndex {
	q := shareIndex{index: newIndex(), t: t}
	q.setShare(share)
	q.add(keys...)
	t.Cleanup(q.close)
	return q
}

func (q shareIndex) add(keys ...string) {
	for _, k := range keys {
		if _, err := q.index.add(Event{Key: k}); err != nil {
			q.t.Fatal(err)
		}
	}
}

func (q shareIndex) expect(want ...string) []Event {
	q.t.Helper()
	var evs []Event
	for _, w := range want {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ev, err := q.next(ctx)
		cancel()
		if err != nil {
			q.t.Fatalf("next: %v (want %s)", err, w)
		}
		if ev.Key != w {
			q.t.Fatalf("handed out %s, want %s", ev.Key, w)
		}
		evs = append(evs, ev)
	}
	return evs
}

// TestShareLetsOtherClassesThrough: with a share of 2, while the oldest
// event's class has 2 keys handed out and not done, the next key goes to
// the class with the fewest keys on workers they keep (ties: the oldest);
// one waiting for a retry on a worker of its own (waits) does not count.
// Without a share, the oldest goes first.
func TestShareLetsOtherClassesThrough(t *testing.T) {
	events := []string{"call:1", "call:2", "call:3", "call:4", "sms:1", "call:5", "sms:2", "changelog", "changelog"}
	q := newShareIndex(t, 2, events...)
	calls := q.expect("call:1", "call:2")
	// Calls at their share: the classes with no key on a worker first.
	sms := q.expect("sms:1")
	q.expect("changelog") // not done: the key's second event stays behind it
	// Calls 2 on workers, SMS 1: the SMS.
	sms = append(sms, q.expect("sms:2")...)
	// Only calls left ready.
	calls = append(calls, q.expect("call:3")...)
	for _, ev := range calls {
		q.waits(ev) // each waits for a retry on a worker of its own
	}
	for _, ev := range sms {
		q.done(ev)
	}
	q.add("sms:3", "sms:4")
	// No call on a worker, no SMS: the oldest, though calls are at their
	// share; then the SMS, which have fewer on workers; then the oldest.
	q.expect("call:4", "sms:3", "call:5", "sms:4")

	unshared := newShareIndex(t, 0, events...)
	unshared.expect("call:1", "call:2", "call:3", "call:4", "sms:1", "call:5", "sms:2", "changelog")
}

// TestShareStarvesNoClass: a class at its share only by parked keys, which
// hold no worker, still gets the next one while other classes keep a
// backlog going.
func TestShareStarvesNoClass(t *testing.T) {
	q := newShareIndex(t, 2, "call:bad1", "call:bad2")
	for _, ev := range q.expect("call:bad1", "call:bad2") {
		q.park(newEntry(ev), Parking{Due: time.Now().Add(time.Hour)})
	}
	q.add("sms:0", "call:healthy", "sms:1")
	q.done(q.expect("sms:0")[0]) // the oldest, of a class below its share
	q.expect("call:healthy")
}
