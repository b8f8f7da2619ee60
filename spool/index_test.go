package spool

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestMemoryPerKeyOrder appends interleaved events of several keys and lets
// four workers drain them: each key's events must come out in arrival order
// and never two of one key at once.
func TestIndexPerKeyOrder(t *testing.T) {
	q := newIndex()
	const keys, perKey = 8, 200
	for i := 0; i < perKey; i++ {
		for k := 0; k < keys; k++ {
			if _, err := q.add(Event{Key: fmt.Sprintf("call:%d", k), Body: []byte(fmt.Sprint(i))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	q.close()
	var mu sync.Mutex
	got := map[string][]string{}
	inFlight := map[string]bool{}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ev, err := q.next(context.Background())
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Next: %v", err)
					return
				}
				mu.Lock()
				if inFlight[ev.Key] {
					t.Errorf("key %s handed out twice at once", ev.Key)
				}
				inFlight[ev.Key] = true
				got[ev.Key] = append(got[ev.Key], string(ev.Body))
				mu.Unlock()
				runtime.Gosched() // let another worker try to take the same key
				mu.Lock()
				inFlight[ev.Key] = false
				mu.Unlock()
				q.done(ev)
			}
		}()
	}
	wg.Wait()
	for k := 0; k < keys; k++ {
		seq := got[fmt.Sprintf("call:%d", k)]
		if len(seq) != perKey {
			t.Fatalf("key %d: got %d events, want %d", k, len(seq), perKey)
		}
		for i, b := range seq {
			if b != fmt.Sprint(i) {
				t.Fatalf("key %d: event %d is %q, want %d", k, i, b, i)
			}
		}
	}
	if q.len() != 0 {
		t.Fatalf("Len = %d after draining, want 0", q.len())
	}
}

// TestMemoryBusyKeyDoesNotBlockOthers holds one key busy and expects
// another key's event to be handed out meanwhile.
func TestIndexBusyKeyDoesNotBlockOthers(t *testing.T) {
	q := newIndex()
	mustAppend(t, q, Event{Key: "a", Body: []byte("a1")})
	mustAppend(t, q, Event{Key: "a", Body: []byte("a2")})
	mustAppend(t, q, Event{Key: "b", Body: []byte("b1")})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	first, _ := q.next(ctx)
	second, err := q.next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(first.Body) != "a1" || string(second.Body) != "b1" {
		t.Fatalf("got %s then %s, want a1 then b1", first.Body, second.Body)
	}
	// a2 must wait for a1's Done.
	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancelShort()
	if ev, err := q.next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next while key a busy = %s, %v; want deadline exceeded", ev.Body, err)
	}
	q.done(first)
	third, err := q.next(ctx)
	if err != nil || string(third.Body) != "a2" {
		t.Fatalf("after Done: %s, %v; want a2", third.Body, err)
	}
	if first.Seq != 1 || second.Seq != 3 || third.Seq != 2 {
		t.Fatalf("Seq = %d,%d,%d; want 1,3,2", first.Seq, second.Seq, third.Seq)
	}
}

// TestMemoryNextWakesOnAppend blocks a Next on an empty queue and releases it
// with an Append from another goroutine.
func TestIndexNextWakesOnAppend(t *testing.T) {
	q := newIndex()
	got := make(chan Event)
	go func() {
		ev, err := q.next(context.Background())
		if err != nil {
			t.Errorf("Next: %v", err)
		}
		got <- ev
	}()
	mustAppend(t, q, Event{Key: "k", Body: []byte("x")})
	if ev := <-got; string(ev.Body) != "x" {
		t.Fatalf("got %q", ev.Body)
	}
}

func TestIndexClosedRejectsAppend(t *testing.T) {
	q := newIndex()
	q.close()
	if _, err := q.add(Event{Key: "k"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
	if _, err := q.next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next on closed empty queue: %v, want ErrClosed", err)
	}
}

// TestIndexHold: a held event's key hands out nothing more, including
// events added behind it later; other keys go on; and a closed index that
// only holds such events ends a draining next instead of waiting for them.
func TestIndexHold(t *testing.T) {
	q := newIndex()
	for _, ev := range []Event{{Key: "a", Body: []byte("a1")}, {Key: "a", Body: []byte("a2")}, {Key: "b", Body: []byte("b1")}} {
		mustAppend(t, q, ev)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first, err := q.next(ctx)
	if err != nil || string(first.Body) != "a1" {
		t.Fatalf("next = %q, %v; want a1", first.Body, err)
	}
	q.hold(first)
	mustAppend(t, q, Event{Key: "a", Body: []byte("a3")})
	if ev, err := q.next(ctx); err != nil || string(ev.Body) != "b1" {
		t.Fatalf("next after hold = %q, %v; want b1 (a's events wait)", ev.Body, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := q.next(ctx)
		done <- err
	}()
	q.close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("next with only held events left = %v, want ErrClosed", err)
	}
	if n := q.len(); n != 3 {
		t.Errorf("len = %d, want 3 (a2, a3 held; b1 not done)", n)
	}
}

func mustAppend(t *testing.T, q *index, ev Event) {
	t.Helper()
	if _, err := q.add(ev); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkIndexAddNextDone(b *testing.B) {
	q := newIndex()
	body := make([]byte, 1024)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		q.add(Event{Key: "call:1", Body: body})
		ev, _ := q.next(ctx)
		q.done(ev)
	}
}

// BenchmarkIndexIdleWorkers: events come one at a time to eight idle
// workers, as at a steady low rate. Each event should wake one worker, not
// all eight.
func BenchmarkIndexIdleWorkers(b *testing.B) {
	q := newIndex()
	ctx, cancel := context.WithCancel(context.Background())
	took := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ev, err := q.next(ctx)
				if err != nil {
					return
				}
				q.done(ev)
				took <- struct{}{}
			}
		}()
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		q.add(Event{Key: fmt.Sprint("call:", i%16)})
		<-took
	}
	b.StopTimer()
	cancel()
	wg.Wait()
}

// TestIndexOldestFirst: of the keys that are free, the one with the oldest
// event goes first. A key released after a delivery does not queue behind
// every key that became ready meanwhile: in a backlog that would leave a
// call's later events far behind the rest.
func TestIndexOldestFirst(t *testing.T) {
	q := newIndex()
	for _, key := range []string{"a", "b", "a", "c", "d", "e"} { // seqs 1 to 6
		if _, err := q.add(Event{Key: key}); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	take := func() Event {
		t.Helper()
		ev, err := q.next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	a1, b2, c4 := take(), take(), take() // a's seq 3 waits for seq 1
	if a1.Seq != 1 || b2.Seq != 2 || c4.Seq != 4 {
		t.Fatalf("handed out seqs %d, %d, %d; want 1, 2, 4", a1.Seq, b2.Seq, c4.Seq)
	}
	q.done(a1)
	if ev := take(); ev.Seq != 3 {
		t.Fatalf("after a's first event: seq %d (key %s) handed out, want a's seq 3, older than d's and e's", ev.Seq, ev.Key)
	}
	if ev := take(); ev.Seq != 5 {
		t.Fatalf("then seq %d, want 5", ev.Seq)
	}
}

// TestIndexWokenWaiterPassesWakeOn: a waiting next woken for an event whose
// context ends before it takes the event passes the wake on, so another
// waiting next hands the event out.
func TestIndexWokenWaiterPassesWakeOn(t *testing.T) {
	q := newIndex()
	first, cancel := context.WithCancel(context.Background())
	defer cancel()
	waiting := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			q.mu.Lock()
			got := len(q.waiters)
			q.mu.Unlock()
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d next calls waiting, want %d", got, n)
			}
			runtime.Gosched()
		}
	}
	firstErr := make(chan error, 1)
	go func() {
		_, err := q.next(first)
		firstErr <- err
	}()
	waiting(1)
	second, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	got := make(chan Event, 1)
	go func() {
		ev, err := q.next(second)
		if err != nil {
			t.Errorf("second next: %v, want the event", err)
		}
		got <- ev
	}()
	waiting(2)
	q.mu.Lock()
	q.addLocked(Event{Key: "a"}) // wakes the first waiter
	cancel()                     // whose context ends before it runs
	q.mu.Unlock()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("first next: %v, want context.Canceled", err)
	}
	if ev := <-got; ev.Key != "a" {
		t.Fatalf("second next got %+v, want the event of key a", ev)
	}
}
