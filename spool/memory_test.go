package spool

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMemoryWaitsForRoom: with MaxBytes set, an Append that would pass it
// waits (its reader with it) until a delivery makes room, and StopWaiting
// ends such a wait with ErrClosed; an event alone may pass the bound.
// Paused counts from the first wait until the queue is down to half the
// bound, not from event to event.
func TestMemoryWaitsForRoom(t *testing.T) {
	q := NewMemory(MemoryConfig{MaxBytes: 10})
	if err := q.Append(Event{ID: "big", Key: "k0", Body: []byte("0123456789abc")}, nil); err != nil {
		t.Fatalf("an event alone, larger than the bound: %v", err)
	}
	q.Ack(nextMem(t, q), nil)
	if err := q.Append(Event{ID: "a", Key: "ka", Body: []byte("aaaaaa")}, nil); err != nil {
		t.Fatal(err)
	}
	appended := make(chan error, 1)
	go func() { appended <- q.Append(Event{ID: "b", Key: "kb", Body: []byte("bbbbbb")}, nil) }()
	waitPaused(t, q)
	select {
	case err := <-appended:
		t.Fatalf("Append past the bound returned (%v), want it to wait", err)
	default:
	}
	q.Ack(nextMem(t, q), nil) // a: room for b
	select {
	case err := <-appended:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Append still waiting after a delivery made room")
	}
	if q.Paused() == 0 { // b fills it past half again: still throttled
		t.Error("Paused() = 0 with the queue over half its bound")
	}
	q.Ack(nextMem(t, q), nil) // b
	if p := q.Paused(); p != 0 {
		t.Errorf("Paused() = %s with the queue empty", p)
	}
	if err := q.Append(Event{ID: "c", Key: "kc", Body: []byte("cccccc")}, nil); err != nil {
		t.Fatal(err)
	}
	go func() { appended <- q.Append(Event{ID: "d", Key: "kd", Body: []byte("dddddd")}, nil) }()
	waitPaused(t, q)
	q.StopWaiting()
	select {
	case err := <-appended:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Append after StopWaiting = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Append still waiting after StopWaiting")
	}
	if n := q.Len(); n != 1 {
		t.Errorf("Len = %d, want c alone queued", n)
	}
}

func nextMem(t *testing.T, q *Memory) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := q.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// waitPaused waits until an Append waits for room.
func waitPaused(t *testing.T, q *Memory) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); q.Paused() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no Append waits for room")
		}
		time.Sleep(time.Millisecond) // polls a condition with a deadline
	}
}

// countWarn counts the log records about the in-memory queue.
type countWarn struct {
	mu sync.Mutex
	n  int
}

func (c *countWarn) Enabled(context.Context, slog.Level) bool { return true }
func (c *countWarn) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "in-memory queue") {
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
	}
	return nil
}
func (c *countWarn) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *countWarn) WithGroup(string) slog.Handler      { return c }

// TestMemoryFullWarnsOnce: a queue kept full by a reader faster than the
// deliveries warns once that it is full, and once that it is down to half
// its bound, not at every event that gets in. (Before: two warnings per
// event.)
func TestMemoryFullWarnsOnce(t *testing.T) {
	cw := &countWarn{}
	q := NewMemory(MemoryConfig{MaxBytes: 100, Logger: slog.New(cw)})
	body := []byte("0123456789")
	for i := 0; i < 10; i++ {
		q.Append(Event{ID: "x", Key: string(rune('a' + i)), Body: body}, nil)
	}
	done := make(chan struct{})
	go func() {
		for i := 0; i < 100; i++ {
			q.Append(Event{ID: "y", Key: string(rune(1000 + i)), Body: body}, nil)
		}
		close(done)
	}()
	for i := 0; i < 100; i++ {
		q.Ack(nextMem(t, q), nil)
	}
	<-done
	if cw.n > 2 {
		t.Errorf("%d warnings for 100 events at a steady full queue", cw.n)
	}
}
