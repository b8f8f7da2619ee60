package spool

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestMemoryWaitsForRoom: with MaxBytes set, an Append that would pass it
// waits (its reader with it) until a delivery makes room, and StopWaiting
// ends such a wait with ErrClosed; an event alone may pass the bound.
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
	if p := q.Paused(); p != 0 {
		t.Errorf("Paused() = %s with room again", p)
	}
	go func() { appended <- q.Append(Event{ID: "c", Key: "kc", Body: []byte("cccccc")}, nil) }()
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
		t.Errorf("Len = %d, want b alone queued", n)
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
