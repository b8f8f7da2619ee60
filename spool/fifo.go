package spool

// fifo is a slice-backed queue that reuses its storage once drained, so a
// steady stream does not allocate per item.
type fifo[T any] struct {
	items []T
	head  int
}

func (f *fifo[T]) len() int { return len(f.items) - f.head }

func (f *fifo[T]) push(v T) { f.items = append(f.items, v) }

// pushFront puts v before the oldest item.
func (f *fifo[T]) pushFront(v T) {
	if f.head > 0 {
		f.head--
		f.items[f.head] = v
		return
	}
	f.items = append(f.items, v)
	copy(f.items[1:], f.items)
	f.items[0] = v
}

// peek returns the oldest item, which must exist, leaving it.
func (f *fifo[T]) peek() T { return f.items[f.head] }

func (f *fifo[T]) pop() T {
	var zero T
	v := f.items[f.head]
	f.items[f.head] = zero
	f.head++
	if f.head == len(f.items) {
		f.items = f.items[:0]
		f.head = 0
	} else if f.head > 1024 && f.head*2 > len(f.items) {
		n := copy(f.items, f.items[f.head:])
		f.items = f.items[:n]
		f.head = 0
	}
	return v
}
