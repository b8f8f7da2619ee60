package spool

// fifo is a slice-backed queue of events that reuses its storage once
// drained, so a steady stream does not allocate per event.
type fifo struct {
	items []Event
	head  int
}

func (f *fifo) len() int { return len(f.items) - f.head }

func (f *fifo) push(ev Event) { f.items = append(f.items, ev) }

func (f *fifo) pop() Event {
	ev := f.items[f.head]
	f.items[f.head] = Event{}
	f.head++
	if f.head == len(f.items) {
		f.items = f.items[:0]
		f.head = 0
	} else if f.head > 1024 && f.head*2 > len(f.items) {
		n := copy(f.items, f.items[f.head:])
		f.items = f.items[:n]
		f.head = 0
	}
	return ev
}
