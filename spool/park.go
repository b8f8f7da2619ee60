package spool

import (
	"container/heap"
	"time"
)

// Parking: an event whose delivery failed and waits for its retry can be
// given back to the index until the retry is due, rather than keep a
// worker (and its body in memory) for the wait. Its key stays busy
// meanwhile, so no later event of the key overtakes it; when it is due it
// becomes its key's next event again, handed out by next with Due set.
// One timer serves every parked event.

type parkedEvent struct {
	e   entry
	due time.Time
}

// parkedHeap is a min-heap of parked events by due time.
type parkedHeap []parkedEvent

func (h parkedHeap) Len() int           { return len(h) }
func (h parkedHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h parkedHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *parkedHeap) Push(x any)        { *h = append(*h, x.(parkedEvent)) }
func (h *parkedHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = parkedEvent{}
	*h = old[:len(old)-1]
	return x
}

// park takes back e, an event next handed out and not done, until due.
// It stays counted by len. After close it stays parked: a durable queue
// keeps it on disk for the next start; in memory it is lost, as a retry
// wait cut short by a stop is.
func (q *index) park(e entry, due time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	heap.Push(&q.parked, parkedEvent{e: e, due: due})
	if q.closed { // parked during a drain: as if parked before it
		q.stopParking()
		q.wakeAll()
		return
	}
	q.armLocked()
}

// armLocked sets the timer for the earliest parked event. q.mu must be
// held.
func (q *index) armLocked() {
	if len(q.parked) == 0 {
		if q.timer != nil {
			q.timer.Stop()
		}
		return
	}
	wait := time.Until(q.parked[0].due)
	if q.timer == nil {
		q.timer = time.AfterFunc(wait, q.unpark)
		return
	}
	q.timer.Reset(wait)
}

// unpark puts every parked event that is due back first in its key, and
// the key among the ready ones.
func (q *index) unpark() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	now := time.Now()
	for len(q.parked) > 0 && !q.parked[0].due.After(now) {
		p := heap.Pop(&q.parked).(parkedEvent)
		key := p.e.key
		f := q.pending[key]
		if f == nil {
			f = &fifo[entry]{}
			q.pending[key] = f
		}
		f.pushFront(p.e)
		delete(q.busy, key)
		if q.due == nil {
			q.due = make(map[uint64]time.Time)
		}
		q.due[p.e.seq] = p.due
		q.ready.push(p.e.seq, key)
		q.wakeOne()
	}
	q.armLocked()
}

// unparkAll makes every parked event due now.
func (q *index) unparkAll() {
	q.mu.Lock()
	now := time.Now()
	for i := range q.parked {
		q.parked[i].due = now // the heap stays one: every due is the same
	}
	q.mu.Unlock()
	q.unpark()
}

// stopParking stops the timer at close. A durable queue's parked events
// stay so, pending on disk. In memory they are lost, as an event whose
// retry wait a stop cuts short is (Memory.Hold); and, as there, their keys
// are released, so that the drain may still deliver the keys' later
// events. They stay counted by len. q.mu must be held.
func (q *index) stopParking() {
	if q.timer != nil {
		q.timer.Stop()
	}
	if q.stopOnClose {
		return
	}
	for _, p := range q.parked {
		delete(q.busy, p.e.key)
		if f := q.pending[p.e.key]; f != nil && f.len() > 0 {
			q.ready.push(f.peek().seq, p.e.key)
		}
	}
	q.parked = nil
}

// parkedLen is how many events are parked.
func (q *index) parkedLen() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.parked)
}
