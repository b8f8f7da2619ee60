package spool

import (
	"container/heap"
	"strings"
)

// readyKeys holds the keys whose next event may be handed out, and picks
// which goes next: the oldest, by the seq of that event. A key released by
// done then waits behind older events only, not behind every key that
// became ready meanwhile, so a backlog drains in about arrival order (and
// its bodies are read back in about file order, see readAhead).
//
// With a share set, the keys are also grouped by class (a key's part
// before its first ':': the agent's are call, sms, agent, contact,
// changelog and other, close to the event types by which forward shares
// its slots), and each class counts its keys busy (handed out and not
// done) and, of those, its active ones (on a worker they keep: not
// waiting for a retry on a worker of their own, nor parked), and how long
// its keys were active. When the oldest event's class has share or more
// keys busy (say the handler is slow or failing for calls), the next key
// goes instead to the class whose keys have been active for the least
// time, those active now included (ties: the oldest event). Time, not
// count: a class whose events give their worker back in a millisecond
// (retries that fail at once, then park) would otherwise win nearly every
// worker from one whose events take 50 ms. A class that becomes busy
// after a quiet spell starts level with the least served of the others
// that are busy (with the most served when none is).
type readyKeys struct {
	share int
	n     int
	lanes map[string]*readyLane
	order []*readyLane // lanes in the order they were made: a stable scan
}

// readyLane is one class's ready keys, its counts of busy and active
// ones, and how long its keys were active.
type readyLane struct {
	h       readyHeap
	busy    int
	active  int
	used    int64 // ns keys were active, the active ones left out
	started int64 // sum of when the active ones became so
}

// held is how long l's keys have been active, those active now so far.
func (l *readyLane) held(now int64) int64 { return l.used + int64(l.active)*now - l.started }

type readyKey struct {
	seq uint64 // of the key's next event
	key string
}

// classOf is the class of key: its part before the first ':', or all of it.
func classOf(key string) string {
	if i := strings.IndexByte(key, ':'); i >= 0 {
		return key[:i]
	}
	return key
}

func (r *readyKeys) lane(key string) *readyLane {
	class := classOf(key)
	l := r.lanes[class]
	if l == nil {
		if r.lanes == nil {
			r.lanes = make(map[string]*readyLane)
		}
		l = &readyLane{}
		r.lanes[class] = l
		r.order = append(r.order, l)
	}
	return l
}

func (r *readyKeys) len() int { return r.n }

func (r *readyKeys) push(seq uint64, key string) {
	heap.Push(&r.lane(key).h, readyKey{seq, key})
	r.n++
}

// pop returns the key next in turn; there is one.
func (r *readyKeys) pop(now int64) string {
	var oldest, fair *readyLane
	for _, l := range r.order {
		if len(l.h) == 0 {
			continue
		}
		if oldest == nil || l.h[0].seq < oldest.h[0].seq {
			oldest = l
		}
		if fair == nil || l.held(now) < fair.held(now) || l.held(now) == fair.held(now) && l.h[0].seq < fair.h[0].seq {
			fair = l
		}
	}
	if r.share == 0 || oldest.busy < r.share {
		fair = oldest
	}
	r.n--
	return heap.Pop(&fair.h).(readyKey).key
}

// taken counts key handed out, active since now; a class with no key busy
// until then starts level with the least served busy class, or with the
// most served class when none is busy: the time others kept workers alone
// is owed to no one (else a class that starts while the others are quiet
// takes every worker, once they come back, until it has kept workers as
// long as they had alone).
func (r *readyKeys) taken(key string, now int64) {
	l := r.lane(key)
	if l.busy == 0 {
		floor, ceiling := int64(-1), int64(0)
		for _, o := range r.order {
			if o != l && o.busy > 0 && (floor < 0 || o.used < floor) {
				floor = o.used
			}
			ceiling = max(ceiling, o.used)
		}
		if floor < 0 {
			floor = ceiling
		}
		l.used = max(l.used, floor)
	}
	l.busy++
	l.active++
	l.started += now
}

// idle counts key, active since, no longer active.
func (r *readyKeys) idle(key string, since, now int64) {
	l := r.lane(key)
	l.active--
	l.started -= since
	l.used += now - since
}

// free counts key done; since is when it became active, or negative if
// it was idle.
func (r *readyKeys) free(key string, since, now int64) {
	l := r.lane(key)
	l.busy--
	if since >= 0 {
		r.idle(key, since, now)
	}
}

// readyHeap is a lane's heap.Interface, a min-heap by seq.
type readyHeap []readyKey

func (h readyHeap) Len() int           { return len(h) }
func (h readyHeap) Less(i, j int) bool { return h[i].seq < h[j].seq }
func (h readyHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *readyHeap) Push(x any)        { *h = append(*h, x.(readyKey)) }
func (h *readyHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = readyKey{}
	*h = old[:len(old)-1]
	return x
}
