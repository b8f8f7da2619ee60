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
// block stays true until the file is swapped by a compaction.
type readAhead struct {
	mu     sync.Mutex
	blocks [aheadBlocks]block
	tick   uint64 // counts lookups, for the blocks' last use
	reads  int    // reads of the file so far, blocks or single frames
}

// block is bytes of f from off on.
type block struct {
	f    *os.File
	off  int64
	b    []byte // its capacity is kept between reads
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
	ra.mu.Lock()
	defer ra.mu.Unlock()
	if size > readAheadBytes || s.off+size > end {
		ra.reads++
		return readFrame(f, s) // too big for a block, or not known written: read on its own
	}
	ra.tick++
	var blk *block
	for i := range ra.blocks {
		b := &ra.blocks[i]
		if b.holds(f, s) {
			blk = b
			break
		}
		if blk == nil || b.used < blk.used {
			blk = b // the least recently used, to be read anew
		}
	}
	if !blk.holds(f, s) {
		if cap(blk.b) < readAheadBytes {
			blk.b = make([]byte, readAheadBytes)
		}
		blk.f, blk.off, blk.b = nil, 0, blk.b[:min(int64(readAheadBytes), end-s.off)]
		if _, err := f.ReadAt(blk.b, s.off); err != nil {
			blk.b = blk.b[:0]
			return nil, err
		}
		blk.f, blk.off = f, s.off
		ra.reads++
	}
	blk.used = ra.tick
	at := s.off - blk.off
	return checkFrame(append([]byte(nil), blk.b[at:at+size]...), s.off)
}
