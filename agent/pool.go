package agent

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// maxWaiting is how many deliveries of a route may wait for a retry at once
// with a worker of their own; beyond it, further stuck keys take workers
// from the others. Each costs a few KiB while it waits (its goroutine and
// body): with 100,000 events behind a dead handler, 1024 of them cost
// 0.5–2 MiB more peak RSS than 256 did, and 4096 cost 11 MiB more
// (`bench`'s backlog phase).
const maxWaiting = 1024

// pool runs one route's delivery workers: Concurrency of them (the POSTs
// in flight are bounded by the Forwarder's own limit), plus one for each
// delivery that waits for a retry, about maxWaiting at most (see
// enterWait). A stuck key's event waits on its own worker, or beyond
// maxWaiting is parked (see parks), so it holds up no other key's
// events, however many keys are stuck; a worker beyond what is needed
// leaves once its delivery is done. Each worker runs deliverLoop on a
// goroutine of its own, counted in wg.
type pool struct {
	a             *Agent
	r             *Route
	ctx, draining context.Context
	wg            *sync.WaitGroup
	base          int64
	workers       atomic.Int64 // running
	waiting       atomic.Int64 // deliveries waiting for a retry
	delivered     atomic.Int64 // when the handler last answered 2xx, Unix nanoseconds
	slot          atomic.Int64 // the last paced retry's time (see paced), Unix nanoseconds
}

// parkWithin: a handler that answered 2xx to some event this recently
// is working (for some keys at least).
const parkWithin = time.Minute

// parks reports whether a delivery that is to wait for a retry should be
// parked (given back to the queue until due) rather than keep a worker:
// when maxWaiting others already wait. self says whether it is already
// counted as waiting.
func (p *pool) parks(self bool) bool {
	others := p.waiting.Load()
	if self {
		others--
	}
	return others >= maxWaiting
}

// working reports whether the handler answered 2xx within parkWithin.
func (p *pool) working() bool {
	return time.Since(time.Unix(0, p.delivered.Load())) < parkWithin
}

// delivery records a 2xx answer and reports whether it is the first after
// parkWithin or more without one: the handler is back, and the pace of
// parked retries starts afresh.
func (p *pool) delivery() (back bool) {
	now := time.Now().UnixNano()
	if now-p.delivered.Swap(now) < int64(parkWithin) {
		return false
	}
	p.slot.Store(0)
	return true
}

// paced is when a parked retry behind a handler that is not working may
// start, at the earliest: such retries are spaced evenly, as many in a
// MaxRetryWait as maxWaiting, about 34 a second at the default 30 s. So a
// backlog behind a dead handler is not retried key by key, each on its own
// clock (100,000 keys would make about 4,400 attempts a second at 30 s),
// but at about the rate of the retries that wait on workers. The handler's first 2xx
// puts every parked retry back on its own clock (Queue.Unpark).
func (p *pool) paced(until time.Time, maxWait time.Duration) time.Time {
	step := int64(maxWait / maxWaiting)
	for {
		last := p.slot.Load()
		next := max(last, time.Now().UnixNano()) + step
		if p.slot.CompareAndSwap(last, next) {
			return later(until, time.Unix(0, next))
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (p *pool) start() {
	p.workers.Add(1)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.a.deliverLoop(p)
	}()
}

// surplus reports, and counts as gone, a worker beyond base plus those
// waiting: it is to leave.
func (p *pool) surplus() bool {
	for {
		w := p.workers.Load()
		if w <= p.base+p.waiting.Load() {
			return false
		}
		if p.workers.CompareAndSwap(w, w-1) {
			return true
		}
	}
}

// enterWait counts a delivery that starts waiting for a retry, and starts
// a worker to take its place. Beyond maxWaiting too: deliveries that
// found fewer waiting when they began (parks) and failed at once, as a
// burst that holds every worker does, would otherwise keep workers the
// others need, each for up to keepEveryAttempt attempts. parks bounds
// them: no more than the workers that began meanwhile.
func (p *pool) enterWait() {
	n := p.waiting.Add(1)
	if p.workers.Load() < p.base+n {
		p.start()
	}
}

func (p *pool) leaveWait() { p.waiting.Add(-1) }
