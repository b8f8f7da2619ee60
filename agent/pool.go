package agent

import (
	"context"
	"sync"
	"sync/atomic"
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
// delivery that waits for a retry, up to maxWaiting. A stuck key's event
// waits on its own worker, so it holds up no other key's events; a worker
// beyond what is needed leaves once its delivery is done. Each worker runs
// deliverLoop on a goroutine of its own, counted in wg.
type pool struct {
	a             *Agent
	r             *Route
	ctx, draining context.Context
	wg            *sync.WaitGroup
	base          int64
	workers       atomic.Int64 // running
	waiting       atomic.Int64 // deliveries waiting for a retry
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
		if w <= p.base+min(p.waiting.Load(), maxWaiting) {
			return false
		}
		if p.workers.CompareAndSwap(w, w-1) {
			return true
		}
	}
}

// enterWait counts a delivery that starts waiting for a retry, and starts
// a worker to take its place.
func (p *pool) enterWait() {
	n := p.waiting.Add(1)
	if n <= maxWaiting && p.workers.Load() < p.base+n {
		p.start()
	}
}

func (p *pool) leaveWait() { p.waiting.Add(-1) }
