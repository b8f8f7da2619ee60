package spool

import (
	"context"
	"testing"
	"time"
)

// TestShareLetsOtherClassesThrough: with a share of 2, a class with two
// keys handed out and not done (being delivered, waiting for a retry, or
// parked) yields to the other classes, whose oldest goes first; with every
// class at its share, or no share set, the oldest event goes first.
func TestShareLetsOtherClassesThrough(t *testing.T) {
	add := func(q *index, keys ...string) {
		for _, k := range keys {
			if _, err := q.add(Event{Key: k}); err != nil {
				t.Fatal(err)
			}
		}
	}
	next := func(q *index) Event {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ev, err := q.next(ctx)
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		return ev
	}
	expect := func(q *index, want ...string) []Event {
		t.Helper()
		var evs []Event
		for _, w := range want {
			ev := next(q)
			if ev.Key != w {
				t.Fatalf("handed out %s, want %s", ev.Key, w)
			}
			evs = append(evs, ev)
		}
		return evs
	}
	events := []string{"call:1", "call:2", "call:3", "call:4", "sms:1", "call:5", "sms:2", "changelog", "changelog"}

	q := newIndex()
	q.setShare(2)
	add(q, events...)
	first := expect(q, "call:1", "call:2", "sms:1", "sms:2", "changelog")
	// Every class with events ready is at its share: the oldest.
	call3 := expect(q, "call:3")[0]
	for _, ev := range first[:4] {
		q.done(ev) // call:3 is the only call still busy, and no SMS is
	}
	expect(q, "call:4")
	// A parked event's key stays busy, so calls are still at their share.
	q.park(newEntry(call3), Parking{Due: time.Now().Add(time.Hour)})
	add(q, "sms:3")
	expect(q, "sms:3", "call:5")
	q.close()

	unshared := newIndex()
	add(unshared, events...)
	expect(unshared, "call:1", "call:2", "call:3", "call:4", "sms:1", "call:5", "sms:2", "changelog")
}
