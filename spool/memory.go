package spool

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed is returned by Next and Append once the queue is closed.
var ErrClosed = errors.New("spool: closed")

// Memory is an in-memory queue with per-key ordering. It holds every event
// until the worker that took it calls Done, so nothing is dropped while the
// process lives; it does not survive a crash. It is safe for concurrent use.
type Memory struct {
	mu      sync.Mutex
	seq     uint64
	pending map[string]*fifo // events not yet handed out, per key
	busy    map[string]bool  // keys with an event handed out and not Done
	ready   fifo             // keys with pending events and not busy, as one-event markers
	wake    chan struct{}    // closed and replaced when ready becomes non-empty
	closed  bool
	size    int // events appended and not Done
}

// NewMemory returns an empty queue.
func NewMemory() *Memory {
	return &Memory{
		pending: make(map[string]*fifo),
		busy:    make(map[string]bool),
		wake:    make(chan struct{}),
	}
}

// Append adds ev at the tail of its key and returns it with Seq set.
func (q *Memory) Append(ev Event) (Event, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ev, ErrClosed
	}
	q.seq++
	ev.Seq = q.seq
	q.size++
	f := q.pending[ev.Key]
	if f == nil {
		f = &fifo{}
		q.pending[ev.Key] = f
	}
	f.push(ev)
	if f.len() == 1 && !q.busy[ev.Key] {
		q.ready.push(Event{Key: ev.Key})
		q.signal()
	}
	return ev, nil
}

// Next blocks until an event whose key is not busy is available, marks its
// key busy and returns it. The caller must call Done with it.
func (q *Memory) Next(ctx context.Context) (Event, error) {
	for {
		q.mu.Lock()
		if q.ready.len() > 0 {
			key := q.ready.pop().Key
			f := q.pending[key]
			ev := f.pop()
			if f.len() == 0 {
				delete(q.pending, key)
			}
			q.busy[key] = true
			q.mu.Unlock()
			return ev, nil
		}
		if q.closed && len(q.pending) == 0 {
			q.mu.Unlock()
			return Event{}, ErrClosed
		}
		wake := q.wake
		q.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// Done releases the key of an event returned by Next, letting the next event
// of that key be handed out.
func (q *Memory) Done(ev Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.size--
	delete(q.busy, ev.Key)
	if f := q.pending[ev.Key]; f != nil && f.len() > 0 {
		q.ready.push(Event{Key: ev.Key})
		q.signal()
	}
}

// Len reports how many events were appended and are not Done yet.
func (q *Memory) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.size
}

// Close stops Append; Next keeps handing out the events already appended
// (in key order, as Done releases keys) and returns ErrClosed once none is
// left to hand out.
func (q *Memory) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		q.signal()
	}
}

// signal wakes every waiting Next. q.mu must be held.
func (q *Memory) signal() {
	close(q.wake)
	q.wake = make(chan struct{})
}
