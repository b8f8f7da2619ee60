package forward

import (
	"sync"
	"time"
)

// slots bounds the exchanges in flight (Config.Concurrency) and, when
// attempts wait for one, decides which gets the next slot freed, so that
// a handler slow for one kind of event does not hold up the others:
//
//  1. the event type (Request.Type) that has held slots for the least
//     time (ties: the one whose attempt has waited longest). Time, not
//     count: calls the handler is slow to answer, or never answers within
//     Config.Timeout, then hold only the slots no other type asks for;
//     and a type whose attempts end in a millisecond (say retries that
//     fail at once) cannot take every slot from a type whose attempts
//     take 50 ms. A type that asks again after none of its attempts
//     waited or ran starts level with the least served of the others
//     that ask (with the most served when none does), so that a quiet
//     spell earns it no long run of slots, nor does a spell the others
//     were quiet in earn it a debt;
//  2. within a type, a first attempt before a retry, so that an event that
//     arrived healthy does not wait behind the retries of failing ones;
//     but while both wait, the type's retries may hold a quarter of the
//     slots (with fewer than 4, every 4th slot granted), so retries are
//     never starved: counted in slots held, not slots granted, since a
//     failing retry may hold its slot until the timeout while a healthy
//     first attempt gives it back in a millisecond;
//  3. else the attempt that has waited longest.
//
// A free slot with no one waiting is taken at once.
type slots struct {
	mu     sync.Mutex
	n      int // Config.Concurrency
	free   int
	lanes  map[string]*slotLane
	order  []*slotLane // lanes in the order they were made: a stable scan
	ticket uint64      // numbers waiters in arrival order
	epoch  time.Time   // the clock of slot times
}

// retryShare: while first attempts and retries of one type both wait,
// its retries may hold 1/retryShare of the slots; with fewer slots than
// retryShare, every retryShare-th slot granted goes to a retry.
const retryShare = 4

// slotLane is one event type's share of the slots.
type slotLane struct {
	inFlight int
	retries  int           // of inFlight, retries
	used     int64         // time slots were held by attempts ended, ns
	started  int64         // sum of the start times of those in flight, ns since epoch
	first    []*slotWaiter // waiting first attempts, oldest first
	retry    []*slotWaiter // waiting retries, oldest first
	firsts   int           // first attempts granted in a row while a retry waited
}

type slotWaiter struct {
	ticket  uint64
	retry   bool
	ready   chan struct{} // closed when granted
	granted bool          // guarded by slots.mu
	start   int64         // when granted
}

func newSlots(n int) *slots {
	return &slots{n: n, free: n, lanes: make(map[string]*slotLane), epoch: time.Now()}
}

func (s *slots) now() int64 { return int64(time.Since(s.epoch)) }

// lane returns class's lane, made on first use, and levels a lane that
// was idle (see slots). s.mu must be held.
func (s *slots) lane(class string) *slotLane {
	l := s.lanes[class]
	if l == nil {
		l = &slotLane{}
		s.lanes[class] = l
		s.order = append(s.order, l)
	}
	if l.idle() {
		floor, ceiling := int64(-1), int64(0)
		for _, o := range s.order {
			if o != l && !o.idle() && (floor < 0 || o.used < floor) {
				floor = o.used
			}
			ceiling = max(ceiling, o.used)
		}
		if floor < 0 {
			// No other type asks: none is owed the time others held
			// slots alone. Level with the most served, or a type that
			// starts while the others are quiet would take every slot,
			// once they ask again, until it had held slots as long as
			// they had alone (an hour of SMS: an hour of calls first).
			floor = ceiling
		}
		l.used = max(l.used, floor)
	}
	return l
}

// idle reports whether l has no attempt in flight or waiting.
func (l *slotLane) idle() bool { return l.inFlight == 0 && len(l.first)+len(l.retry) == 0 }

// held is how long l's attempts have held slots, those in flight so far
// included.
func (l *slotLane) held(now int64) int64 { return l.used + int64(l.inFlight)*now - l.started }

// acquire takes a slot for an attempt of class (retry: not its event's
// first attempt) and returns when it took it. It returns false, holding
// none, if cancel or stop is closed, or stopAt (unless zero) comes, first.
func (s *slots) acquire(class string, retry bool, cancel, stop <-chan struct{}, stopAt time.Time) (int64, bool) {
	select {
	case <-stop: // stopped already: not even a free slot is taken
		return 0, false
	default:
	}
	if !stopAt.IsZero() && !time.Now().Before(stopAt) {
		return 0, false
	}
	s.mu.Lock()
	l := s.lane(class)
	if s.free > 0 {
		s.free--
		start := s.now()
		l.take(retry, start)
		s.mu.Unlock()
		return start, true
	}
	s.ticket++
	w := &slotWaiter{ticket: s.ticket, retry: retry, ready: make(chan struct{})}
	if retry {
		l.retry = append(l.retry, w)
	} else {
		l.first = append(l.first, w)
	}
	s.mu.Unlock()
	var at <-chan time.Time
	if !stopAt.IsZero() {
		t := time.NewTimer(time.Until(stopAt))
		defer t.Stop()
		at = t.C
	}
	select {
	case <-w.ready:
		return w.start, true
	case <-cancel:
	case <-stop:
	case <-at:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.granted { // granted meanwhile: pass the slot on
		s.releaseLocked(l, retry, w.start)
		return 0, false
	}
	if retry {
		l.retry = without(l.retry, w)
	} else {
		l.first = without(l.first, w)
	}
	return 0, false
}

// release gives back a slot an attempt of class took at start.
func (s *slots) release(class string, retry bool, start int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked(s.lanes[class], retry, start)
}

// releaseLocked frees l's slot and grants it to the waiter next in turn.
// s.mu must be held.
func (s *slots) releaseLocked(l *slotLane, retry bool, start int64) {
	now := s.now()
	l.inFlight--
	l.started -= start
	l.used += now - start
	if retry {
		l.retries--
	}
	var next *slotLane
	for _, c := range s.order {
		if len(c.first)+len(c.retry) == 0 {
			continue
		}
		if next == nil || c.held(now) < next.held(now) || c.held(now) == next.held(now) && c.oldest() < next.oldest() {
			next = c
		}
	}
	if next == nil {
		s.free++
		return
	}
	w := next.pop(s.n / retryShare)
	w.granted, w.start = true, now
	next.take(w.retry, now)
	close(w.ready)
}

// take counts a slot taken at start by an attempt of l.
func (l *slotLane) take(retry bool, start int64) {
	l.inFlight++
	l.started += start
	if retry {
		l.retries++
	}
}

// oldest is the ticket of l's longest-waiting attempt; l has one.
func (l *slotLane) oldest() uint64 {
	switch {
	case len(l.first) == 0:
		return l.retry[0].ticket
	case len(l.retry) == 0:
		return l.first[0].ticket
	}
	return min(l.first[0].ticket, l.retry[0].ticket)
}

// pop takes the waiter of l next in turn: a first attempt before a retry,
// but a retry while the type's retries hold fewer than retrySlots (or,
// with retrySlots 0, after retryShare-1 first attempts in a row while it
// waited).
func (l *slotLane) pop(retrySlots int) *slotWaiter {
	switch {
	case len(l.retry) == 0:
		l.firsts = 0
		return shift(&l.first)
	case len(l.first) == 0,
		retrySlots > 0 && l.retries < retrySlots,
		retrySlots == 0 && l.firsts >= retryShare-1:
		l.firsts = 0
		return shift(&l.retry)
	}
	l.firsts++
	return shift(&l.first)
}

// shift takes the first of *ws.
func shift(ws *[]*slotWaiter) *slotWaiter {
	w := (*ws)[0]
	(*ws)[0] = nil
	*ws = (*ws)[1:]
	return w
}

func without(ws []*slotWaiter, w *slotWaiter) []*slotWaiter {
	for i, x := range ws {
		if x == w {
			return append(ws[:i], ws[i+1:]...)
		}
	}
	return ws
}
