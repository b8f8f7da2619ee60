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
// its slots), and each class counts
// its keys busy (handed out and not done) and, of those, its active ones
// (on a worker they keep: not waiting for a retry on a worker of their
// own, nor parked). When the oldest event's class has share or more keys
// busy (say the handler is slow or failing for calls), the next key goes
// instead to the class with the fewest active ones (ties: the oldest
// event), so the other types still reach a worker, and the busy class
// gets its turn as soon as it has fewer workers than another.
type readyKeys struct {
	share int
	n     int
	lanes map[string]*readyLane
	order []*readyLane // lanes in the order they were made: a stable scan
}

// readyLane is one class's ready keys and its counts of busy and active
// ones.
type readyLane struct {
	h      readyHeap
	busy   int
	active int
}

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
func (r *readyKeys) pop() string {
	var oldest, fair *readyLane
	for _, l := range r.order {
		if len(l.h) == 0 {
			continue
		}
		if oldest == nil || l.h[0].seq < oldest.h[0].seq {
			oldest = l
		}
		if fair == nil || l.active < fair.active || l.active == fair.active && l.h[0].seq < fair.h[0].seq {
			fair = l
		}
	}
	if r.share == 0 || oldest.busy < r.share {
		fair = oldest
	}
	r.n--
	return heap.Pop(&fair.h).(readyKey).key
}

// taken counts key handed out, active; idle counts it no longer active;
// free counts it done (active says whether it still was).
func (r *readyKeys) taken(key string) {
	l := r.lane(key)
	l.busy++
	l.active++
}

func (r *readyKeys) idle(key string) { r.lane(key).active-- }

func (r *readyKeys) free(key string, active bool) {
	l := r.lane(key)
	l.busy--
	if active {
		l.active--
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
