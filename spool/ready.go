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
// before its first ':', such as "call" or "sms"), and a class with share
// or more keys busy (handed out and not done: being delivered, or waiting
// for a retry) yields to the others: the oldest event of a class below its
// share goes first. So when one type of event is slow or failing, and its
// deliveries take every worker, the other types still reach one. With
// every class at its share, or none, the oldest goes first.
type readyKeys struct {
	share int
	n     int
	lanes map[string]*readyLane
	order []*readyLane // lanes in the order they were made: a stable scan
}

// readyLane is one class's ready keys and its count of busy ones.
type readyLane struct {
	h    readyHeap
	busy int
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

// pop returns the key next in turn, of the oldest event ready whose class
// is below its share, else of the oldest event ready; there is one.
func (r *readyKeys) pop() string {
	var oldest, fair *readyLane
	for _, l := range r.order {
		if len(l.h) == 0 {
			continue
		}
		if oldest == nil || l.h[0].seq < oldest.h[0].seq {
			oldest = l
		}
		if r.share > 0 && l.busy < r.share && (fair == nil || l.h[0].seq < fair.h[0].seq) {
			fair = l
		}
	}
	if fair == nil {
		fair = oldest
	}
	r.n--
	return heap.Pop(&fair.h).(readyKey).key
}

// busy and free count key's class's keys handed out and not done.
func (r *readyKeys) busy(key string) { r.lane(key).busy++ }
func (r *readyKeys) free(key string) { r.lane(key).busy-- }

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
