package spool

import (
	"os"
	"sync"
)

// Reading back: a backlog drains in about file order, so a read of the
// spool file takes a block of readAheadBytes, which holds the bodies of
// some fifty 1 KiB events, not one: on a small machine each system call
// costs about as much as copying the event. The events of a busy key are
// handed out later than their neighbours, so the last aheadBlocks blocks
// are kept for them.
const (
	readAheadBytes = 64 << 10
	aheadBlocks    = 4
)

// readAhead keeps the blocks last read from the spool file for the frames
// read back after them. Only bytes below the end of the last finished
// write are read (Disk.readEnd): the file never changes below it, so a
// block stays true until the file is swapped by a compaction. mu guards
// the blocks, never a read of the file: a block being read belongs to its
// reader alone until it is put back.
type readAhead struct {
	mu     sync.Mutex
	blocks [aheadBlocks]block
	tick   uint64 // counts lookups, for the blocks' last use
	reads  int    // reads of the file so far, blocks or single frames
}

// block is bytes of f from off on; f is nil for an empty slot.
type block struct {
	f    *os.File
	off  int64
	b    []byte
	used uint64 // readAhead.tick when it last served a frame
}

func (b *block) holds(f *os.File, s span) bool {
	return b.f == f && s.off >= b.off && s.off+int64(s.n) <= b.off+int64(len(b.b))
}

// frame returns the checked payload of the frame at s in f, whose written
// bytes end at end, from a block held or from a new one read at s. The
// payload is a copy: it outlives the block.
func (ra *readAhead) frame(f *os.File, s span, end int64) ([]byte, error) {
	size := int64(s.n)
	if size > readAheadBytes || s.off+size > end {
		ra.count()
		return readFrame(f, s) // too big for a block, or not known written: read on its own
	}
	ra.mu.Lock()
	ra.tick++
	for i := range ra.blocks {
		if b := &ra.blocks[i]; b.holds(f, s) {
			b.used = ra.tick
			payload := b.copy(s)
			bf, boff := b.f, b.off
			ra.mu.Unlock()
			checked, err := checkFrame(payload, s.off)
			if err != nil {
				ra.drop(bf, boff) // read again next time: the bytes read may be what was wrong
			}
			return checked, err
		}
	}
	// A miss: read a new block into the memory of the least recently used
	// one, emptied meanwhile.
	slot := ra.slot()
	buf := slot.b[:0]
	*slot = block{used: ra.tick}
	ra.mu.Unlock()

	if cap(buf) < readAheadBytes {
		buf = make([]byte, readAheadBytes)
	}
	buf = buf[:min(readAheadBytes, end-s.off)]
	_, err := f.ReadAt(buf, s.off)
	ra.count()
	if err != nil {
		return nil, err
	}
	nb := block{f: f, off: s.off, b: buf}
	checked, err := checkFrame(nb.copy(s), s.off)
	if err != nil {
		return nil, err // not kept: a read again may find the right bytes
	}
	ra.mu.Lock()
	ra.tick++
	nb.used = ra.tick
	*ra.slot() = nb
	ra.mu.Unlock()
	return checked, nil
}

// drop empties the block of f at off, if it is still held.
func (ra *readAhead) drop(f *os.File, off int64) {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	for i := range ra.blocks {
		if b := &ra.blocks[i]; b.f == f && b.off == off {
			*b = block{b: b.b[:0]}
		}
	}
}

// copy returns the frame at s, which b holds, in memory of its own.
func (b *block) copy(s span) []byte {
	at := s.off - b.off
	return append([]byte(nil), b.b[at:at+int64(s.n)]...)
}

// slot returns an empty slot, or else the least recently used one. ra.mu
// must be held.
func (ra *readAhead) slot() *block {
	lru := &ra.blocks[0]
	for i := range ra.blocks {
		b := &ra.blocks[i]
		if b.f == nil {
			return b
		}
		if b.used < lru.used {
			lru = b
		}
	}
	return lru
}

func (ra *readAhead) count() {
	ra.mu.Lock()
	ra.reads++
	ra.mu.Unlock()
}
