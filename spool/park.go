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

// Parking says when a parked event is due.
type Parking struct {
	// Due is its next attempt by its own backoff (and Retry-After).
	Due time.Time
	// Paced, when later than Due, is when it is due instead: retries
	// behind a handler that is down are spaced out. Unpark puts the event
	// back on Due, and so does park for one paced at or before the last
	// Unpark (PacedAt), whose write was still under way then.
	Paced, PacedAt time.Time
}

// when is when p is due.
func (p Parking) when() time.Time {
	if p.Paced.After(p.Due) {
		return p.Paced
	}
	return p.Due
}

type parkedEvent struct {
	e   entry
	due time.Time // when it is handed out again
	own time.Time // Parking.Due
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

// park takes back e, an event next handed out and not done, until p is
// due. It stays counted by len. After close it stays parked: a durable
// queue keeps it on disk for the next start; in memory it is lost, as a
// retry wait cut short by a stop is.
func (q *index) park(e entry, p Parking) {
	q.mu.Lock()
	defer q.mu.Unlock()
	due := p.when()
	if !p.PacedAt.IsZero() && !p.PacedAt.After(q.unpaced) {
		due = p.Due // paced before the handler was back
	}
	heap.Push(&q.parked, parkedEvent{e: e, due: due, own: p.Due})
	q.setIdle(e.key)
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
		q.clearBusy(key)
		if q.due == nil {
			q.due = make(map[uint64]time.Time)
		}
		q.due[p.e.seq] = p.due
		q.ready.push(p.e.seq, key)
		q.wakeOne()
	}
	q.armLocked()
}

// unpaceAll puts every parked event back on its own due time (a paced
// one is due sooner), and any parked later whose pace was chosen before.
func (q *index) unpaceAll() {
	q.mu.Lock()
	q.unpaced = time.Now()
	for i := range q.parked {
		q.parked[i].due = q.parked[i].own
	}
	heap.Init(&q.parked)
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
		q.clearBusy(p.e.key)
		if f := q.pending[p.e.key]; f != nil && f.len() > 0 {
			q.ready.push(f.peek().seq, p.e.key)
		}
	}
	q.parked = nil
}
