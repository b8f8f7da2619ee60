package spool

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// nextWithin is Next with a time limit; ok is false when nothing came.
func nextWithin(q interface {
	Next(context.Context) (Event, error)
}, within time.Duration) (Event, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	ev, err := q.Next(ctx)
	return ev, err == nil
}

// TestMemoryPark: a parked event comes back when due, first of its key,
// with its attempts and Due set; meanwhile its key's later events wait and
// other keys' do not; it stays counted by Len throughout.
func TestMemoryPark(t *testing.T) {
	q := NewMemory(MemoryConfig{})
	for _, ev := range []Event{{ID: "a1", Key: "a"}, {ID: "a2", Key: "a"}, {ID: "b1", Key: "b"}} {
		if err := q.Append(ev, nil); err != nil {
			t.Fatal(err)
		}
	}
	a1, _ := nextWithin(q, time.Second)
	tried := []Attempt{{At: time.Now(), Status: 503}}
	due := time.Now().Add(300 * time.Millisecond)
	if err := q.Park(a1, tried, Parking{Due: due}); err != nil {
		t.Fatal(err)
	}
	b1, ok := nextWithin(q, time.Second)
	if !ok || b1.ID != "b1" {
		t.Fatalf("Next while a1 is parked = %q, want b1", b1.ID)
	}
	q.Ack(b1, nil)
	if ev, ok := nextWithin(q, 100*time.Millisecond); ok {
		t.Fatalf("Next handed out %q while a1 is parked, want nothing: a2 waits behind it", ev.ID)
	}
	if n := q.Len(); n != 2 {
		t.Errorf("Len with a1 parked = %d, want 2", n)
	}
	back, ok := nextWithin(q, 5*time.Second)
	if !ok || back.ID != "a1" || !slices.Equal(back.Tried, tried) || !back.Due.Equal(due) || time.Now().Before(due) {
		t.Fatalf("after the wait Next = %q with attempts %+v, due %v, at %v; want a1 with its attempt, due %v, not before it",
			back.ID, back.Tried, back.Due, time.Now(), due)
	}
	q.Ack(back, nil)
	if a2, ok := nextWithin(q, time.Second); !ok || a2.ID != "a2" || !a2.Due.IsZero() {
		t.Fatalf("then Next = %q (due %v), want a2 with no Due", a2.ID, a2.Due)
	}
}

// TestMemoryCloseReleasesParkedKeys: in memory a stop loses a parked event
// (its retry does not start), still counted by Len, and frees its key so
// that the drain delivers the key's later events.
func TestMemoryCloseReleasesParkedKeys(t *testing.T) {
	q := NewMemory(MemoryConfig{})
	for _, id := range []string{"a1", "a2"} {
		if err := q.Append(Event{ID: id, Key: "a"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	a1, _ := nextWithin(q, time.Second)
	if err := q.Park(a1, nil, Parking{Due: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	q.Close()
	a2, ok := nextWithin(q, time.Second)
	if !ok || a2.ID != "a2" {
		t.Fatalf("drain after Close = %q, want a2", a2.ID)
	}
	q.Ack(a2, nil)
	if _, err := q.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after the drain = %v, want ErrClosed", err)
	}
	if n := q.Len(); n != 1 {
		t.Errorf("Len after the drain = %d, want the parked event counted", n)
	}
}

// TestDiskPark: a parked event's attempts are written, all of them, and
// it is read back from disk when due, with them; its body leaves memory.
// One still parked at a stop is pending at the next start, attempts and
// all, first of its key.
func TestDiskPark(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path})
	for _, ev := range []Event{{ID: "a1", Key: "a", Body: []byte(`{"a":1}`)}, {ID: "a2", Key: "a", Body: []byte(`{"a":2}`)}, {ID: "b1", Key: "b", Body: []byte(`{"b":1}`)}} {
		appendSync(t, d, ev)
	}
	cachedBefore := d.cached.Load()
	a1 := nextNow(t, d)
	tried := tries(time.Now().Round(0).Add(-time.Minute), 3) // no monotonic reading: compared with what is read back
	due := time.Now().Add(200 * time.Millisecond)
	if err := d.Park(a1, tried, Parking{Due: due}); err != nil {
		t.Fatal(err)
	}
	if got := d.cached.Load(); got != cachedBefore-int64(len(a1.Body)) {
		t.Errorf("cached bytes after Park = %d, want %d: the body read back when due", got, cachedBefore-int64(len(a1.Body)))
	}
	if b1 := nextNow(t, d); b1.ID != "b1" {
		t.Fatalf("Next while a1 is parked = %q, want b1", b1.ID)
	} else {
		d.Ack(b1, nil)
	}
	back := nextNow(t, d)
	if back.ID != "a1" || string(back.Body) != `{"a":1}` || !slices.Equal(back.Tried, tried) || !back.Due.Equal(due) {
		t.Fatalf("after the wait Next = %q %q with attempts %+v, due %v; want a1 read back with its 3 attempts, due %v",
			back.ID, back.Body, back.Tried, back.Due, due)
	}
	more := append(slices.Clone(tried), tries(time.Now().Round(0), 1)...)
	if err := d.Park(back, more, Parking{Due: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	stop()

	d, _ = openRunning(t, DiskConfig{Path: path})
	if d.Len() != 2 {
		t.Errorf("pending at the next start = %d, want a1 and a2", d.Len())
	}
	first := nextNow(t, d)
	if first.ID != "a1" || !slices.Equal(first.Tried, more) || !first.Due.IsZero() {
		t.Fatalf("first at the next start = %q with %d attempts, due %v; want a1 with its 4, no Due", first.ID, len(first.Tried), first.Due)
	}
}

// TestMemoryParkDuringDrain: an event parked after Close (a retry wait
// that began in the drain) is lost as one parked before it, and its key's
// later events are still drained.
func TestMemoryParkDuringDrain(t *testing.T) {
	q := NewMemory(MemoryConfig{})
	for _, id := range []string{"a1", "a2"} {
		if err := q.Append(Event{ID: id, Key: "a"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	a1, _ := nextWithin(q, time.Second)
	q.Close()
	if err := q.Park(a1, nil, Parking{Due: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if a2, ok := nextWithin(q, time.Second); !ok || a2.ID != "a2" {
		t.Fatalf("drain after a park = %q, want a2", a2.ID)
	}
}

// TestUnparkEndsThePace: Unpark puts a paced event back on its own due
// time, and leaves one parked on its own clock as it is; a paced park
// whose write was under way at the Unpark is due on its own time too.
func TestUnparkEndsThePace(t *testing.T) {
	q := NewMemory(MemoryConfig{})
	for _, ev := range []Event{{ID: "a1", Key: "a"}, {ID: "b1", Key: "b"}} {
		if err := q.Append(ev, nil); err != nil {
			t.Fatal(err)
		}
	}
	a1, _ := nextWithin(q, time.Second)
	b1, _ := nextWithin(q, time.Second)
	now := time.Now()
	if err := q.Park(a1, nil, Parking{Due: now.Add(100 * time.Millisecond), Paced: now.Add(time.Hour), PacedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := q.Park(b1, nil, Parking{Due: now.Add(time.Hour)}); err != nil { // a Retry-After, say
		t.Fatal(err)
	}
	q.Unpark()
	if ev, ok := nextWithin(q, 5*time.Second); !ok || ev.ID != "a1" || time.Since(now) < 100*time.Millisecond {
		t.Fatalf("after Unpark Next = %q after %v, want a1 at its own due time, 100ms", ev.ID, time.Since(now))
	}
	if ev, ok := nextWithin(q, 200*time.Millisecond); ok {
		t.Fatalf("after Unpark Next = %q, want b1 still waiting for its own due time", ev.ID)
	}

	path := filepath.Join(t.TempDir(), "events.spool")
	d, _ := openRunning(t, DiskConfig{Path: path, CommitInterval: 300 * time.Millisecond})
	appendSync(t, d, Event{ID: "c1", Key: "c", Body: []byte(`{}`)})
	c1 := nextNow(t, d)
	pacedAt := time.Now()
	if err := d.Park(c1, nil, Parking{Due: pacedAt, Paced: pacedAt.Add(time.Hour), PacedAt: pacedAt}); err != nil {
		t.Fatal(err)
	}
	d.Unpark() // before the park is written
	if ev, ok := nextWithin(d, 5*time.Second); !ok || ev.ID != "c1" {
		t.Fatalf("Next after an Unpark that came while the park was written = %q, %v; want c1 at once", ev.ID, ok)
	}
}
