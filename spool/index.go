package spool

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrClosed is returned by Next and Append once the queue is closed.
var ErrClosed = errors.New("spool: closed")

// index hands out events with per-key ordering: one event of a key at a
// time, in seq order; of different keys, the oldest whose key is free
// first. It holds every event until the worker that took it calls done.
// It is safe for concurrent use.
type index struct {
	mu      sync.Mutex
	seq     uint64
	pending map[string]*fifo[entry] // events not yet handed out, per key
	busy    map[string]keyState     // keys with an event handed out and not Done
	epoch   time.Time               // the clock of keyState
	held    map[string]*fifo[entry] // keys held (see hold) and their events, not handed out again
	ready   readyKeys               // keys with pending events and not busy
	waiters []chan struct{}         // next calls waiting, oldest first; each is woken once
	closed  bool
	// stopOnClose: after close, next hands out nothing (the events stay on
	// disk); otherwise it drains what was added.
	stopOnClose bool
	size        int                  // events appended and not Done
	parked      parkedHeap           // events given back until their retry is due (see park)
	timer       *time.Timer          // fires when parked[0] is due
	due         map[uint64]time.Time // by seq: when an event no longer parked was due, until next hands it out
	unpaced     time.Time            // the last unpaceAll
}

func newIndex() *index {
	return &index{
		pending: make(map[string]*fifo[entry]),
		busy:    make(map[string]keyState),
		epoch:   time.Now(),
	}
}

// add puts ev at the tail of its key and returns it with Seq set: kept
// when non-zero (events restored from disk), else the next number.
func (q *index) add(ev Event) (Event, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.addLocked(ev)
}

// addLocked is add with q.mu held.
func (q *index) addLocked(ev Event) (Event, error) {
	if q.closed {
		return ev, ErrClosed
	}
	if ev.Seq == 0 {
		ev.Seq = q.seq + 1
	}
	q.seq = max(q.seq, ev.Seq)
	q.size++
	if f := q.held[ev.Key]; f != nil {
		f.push(newEntry(ev)) // behind a held event: not handed out in this run
		return ev, nil
	}
	f := q.pending[ev.Key]
	if f == nil {
		f = &fifo[entry]{}
		q.pending[ev.Key] = f
	}
	f.push(newEntry(ev))
	if _, busy := q.busy[ev.Key]; f.len() == 1 && !busy {
		q.ready.push(ev.Seq, ev.Key)
		q.wakeOne()
	}
	return ev, nil
}

// next blocks until an event whose key is not busy is available, marks its
// key busy and returns it. The caller must call done with it. With stop
// set (a durable queue shutting down), it hands out nothing more.
func (q *index) next(ctx context.Context) (Event, error) {
	for {
		q.mu.Lock()
		if q.closed && q.stopOnClose {
			q.mu.Unlock()
			return Event{}, ErrClosed
		}
		if err := ctx.Err(); err != nil {
			if q.ready.len() > 0 {
				q.wakeOne() // this call may have been woken for it: pass the wake on
			}
			q.mu.Unlock()
			return Event{}, err
		}
		if q.ready.len() > 0 {
			key := q.ready.pop(q.now())
			f := q.pending[key]
			ev := f.pop().event()
			if due, ok := q.due[ev.Seq]; ok {
				ev.Due = due
				delete(q.due, ev.Seq)
			}
			if f.len() == 0 {
				delete(q.pending, key)
			}
			q.setBusy(key)
			switch {
			case q.closed && len(q.pending) == 0:
				q.wakeAll() // drained: the others return
			case q.ready.len() > 0:
				q.wakeOne() // more to hand out: pass the wake on
			}
			q.mu.Unlock()
			return ev, nil
		}
		if q.closed && len(q.pending) == 0 {
			q.mu.Unlock()
			return Event{}, ErrClosed
		}
		wake := make(chan struct{}, 1)
		q.waiters = append(q.waiters, wake)
		q.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			q.mu.Lock()
			if !q.dropWaiter(wake) {
				q.wakeOne() // woken meanwhile: the wake is another's now
			}
			q.mu.Unlock()
			return Event{}, ctx.Err()
		}
	}
}

// done releases the key of an event returned by next, letting the next
// event of that key be handed out.
func (q *index) done(ev Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.size--
	q.clearBusy(ev.Key)
	if f := q.pending[ev.Key]; f != nil && f.len() > 0 {
		q.ready.push(f.peek().seq, ev.Key)
		q.wakeOne()
	}
}

// hold ends an event returned by next without releasing its key: no later
// event of that key is handed out again by this index (its owner is
// stopping, and the event stays first of its key for the next start). The
// key's events are set aside, so a draining next does not wait for them.
func (q *index) hold(ev Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.size--
	q.holdLocked(ev)
}

// holdPending is hold for an event next handed out that is given back
// unread (the spool stopped first): it is still pending, counted by len,
// since no caller had it to release.
func (q *index) holdPending(ev Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.holdLocked(ev)
}

// holdLocked sets ev's key aside; q.mu must be held.
func (q *index) holdLocked(ev Event) {
	q.setIdle(ev.Key)
	if q.held == nil {
		q.held = make(map[string]*fifo[entry])
	}
	f := q.pending[ev.Key]
	if f == nil {
		f = &fifo[entry]{}
	}
	q.held[ev.Key] = f
	delete(q.pending, ev.Key)
	q.wakeAll() // next may be waiting for nothing now
}

// setShare sets how many busy keys of one class make it yield to the
// other classes (see readyKeys); 0, the default, hands out the oldest
// whatever its class.
func (q *index) setShare(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ready.share = max(n, 0)
}

// keyState is what the event a busy key has handed out is doing: since
// when (ns since epoch) it is on a worker it keeps, or idle: waiting for a
// retry on a worker of its own, parked, held, or unread.
type keyState int64

const idle keyState = -1

func (q *index) now() int64 { return int64(time.Since(q.epoch)) }

// setBusy marks key handed out, active; q.mu must be held.
func (q *index) setBusy(key string) {
	now := q.now()
	q.busy[key] = keyState(now)
	q.ready.taken(key, now)
}

// setIdle marks busy key idle (see keyState), if it is active; q.mu must
// be held.
func (q *index) setIdle(key string) {
	if s, ok := q.busy[key]; ok && s != idle {
		q.busy[key] = idle
		q.ready.idle(key, int64(s), q.now())
	}
}

// clearBusy marks key no longer handed out, if it was; q.mu must be held.
func (q *index) clearBusy(key string) {
	if s, ok := q.busy[key]; ok {
		delete(q.busy, key)
		q.ready.free(key, int64(s), q.now())
	}
}

// waits marks the event ev, handed out, as waiting for its retries on a
// worker of its own from now until done: it no longer takes one of the
// workers its class shares with the others (see readyKeys).
func (q *index) waits(ev Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.setIdle(ev.Key)
}

// len reports how many events were added and are not done yet.
func (q *index) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.size
}

// close stops add; next keeps handing out the events already added (as
// done releases their keys) and returns ErrClosed once none is left, or at
// once with stopOnClose.
func (q *index) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		q.stopParking()
		q.wakeAll()
	}
}

// isClosed reports whether close was called.
func (q *index) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// wakeOne wakes the next call that waited longest, if any: one waiting
// worker per event made ready, not all of them. q.mu must be held.
func (q *index) wakeOne() {
	if len(q.waiters) > 0 {
		q.waiters[0] <- struct{}{}
		q.waiters = q.waiters[1:]
	}
}

// wakeAll wakes every waiting next. q.mu must be held.
func (q *index) wakeAll() {
	for _, w := range q.waiters {
		w <- struct{}{}
	}
	q.waiters = nil
}

// dropWaiter takes wake off the waiters and reports whether it was there
// (not woken yet). q.mu must be held.
func (q *index) dropWaiter(wake chan struct{}) bool {
	for i, w := range q.waiters {
		if w == wake {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// entry is an event waiting in the index: the whole event, or for a Disk
// spool's event whose body was not kept in memory only its seq and key,
// which is all ordering needs (Disk.Next reads the rest back).
type entry struct {
	seq uint64
	key string
	ev  *Event // nil for a stored-only event
}

func newEntry(ev Event) entry {
	if ev.stored {
		return entry{seq: ev.Seq, key: ev.Key}
	}
	return entry{seq: ev.Seq, key: ev.Key, ev: &ev}
}

func (e entry) event() Event {
	if e.ev == nil {
		return Event{Seq: e.seq, Key: e.key, stored: true}
	}
	return *e.ev
}
