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

// advance moves the index's clock (the one of keyState) on by d, as if
// that long had passed.
func (q shareIndex) advance(d time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.epoch = q.epoch.Add(-d)
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
// the class whose keys have been on workers they keep for the least time
// (one waiting for a retry on a worker of its own no longer counts), not
// the one with the fewest on workers now. Without a share, the oldest
// goes first.
func TestShareLetsOtherClassesThrough(t *testing.T) {
	q := newShareIndex(t, 2, "sms:1")
	q.waits(q.expect("sms:1")[0]) // busy, and not on a worker it keeps
	q.add("call:1")
	call1 := q.expect("call:1")[0]
	q.advance(time.Hour) // call:1 keeps its worker that long (no wall-clock stall comes near it)
	q.waits(call1)
	q.add("call:2")
	q.waits(q.expect("call:2")[0]) // calls now at their share
	q.add("sms:2")
	q.expect("sms:2") // on a worker now, while no call is
	q.add("call:3", "sms:3")
	q.expect("sms:3", "call:3")

	unshared := newShareIndex(t, 0, "call:1", "call:2", "sms:1", "call:3")
	unshared.expect("call:1", "call:2", "sms:1", "call:3")
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

// TestShareServedAloneEarnsNoDebt: an hour in which SMS alone kept
// workers counts for nothing against calls that start once the SMS are
// done: an SMS that arrives while calls are at their share gets the next
// worker, not one after an hour of calls. (The calls kept their untouched
// start, and took every worker freed until they had kept workers for as
// long as the SMS had alone.)
func TestShareServedAloneEarnsNoDebt(t *testing.T) {
	q := newShareIndex(t, 2, "sms:1")
	sms1 := q.expect("sms:1")[0]
	q.advance(time.Hour) // SMS alone, for an hour
	q.done(sms1)
	q.add("call:1", "call:2")
	q.expect("call:1", "call:2") // calls at their share
	q.add("call:3", "sms:2")
	q.expect("sms:2", "call:3")
}
