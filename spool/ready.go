package spool

import "container/heap"

// readyKeys holds the keys whose next event may be handed out, oldest
// first: by the seq of that event. A key released by done then waits
// behind older events only, not behind every key that became ready
// meanwhile, so a backlog drains in about arrival order (and its bodies
// are read back in about file order, see readAhead).
type readyKeys struct{ h readyHeap }

type readyKey struct {
	seq uint64 // of the key's next event
	key string
}

func (r *readyKeys) len() int { return len(r.h) }

func (r *readyKeys) push(seq uint64, key string) { heap.Push(&r.h, readyKey{seq, key}) }

// pop returns the key of the oldest event ready.
func (r *readyKeys) pop() string { return heap.Pop(&r.h).(readyKey).key }

// readyHeap is readyKeys' heap.Interface, a min-heap by seq.
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
