package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"
)

// readAheadChunk is how much of the file one read of a pending body takes:
// the frames after it are mostly the next pending events, so one read
// serves dozens of them (each read is a system call).
const readAheadChunk = 64 << 10

// readAhead holds pending events read from the file before their turn,
// up to max bytes of bodies. It is safe for concurrent use.
type readAhead struct {
	mu    sync.Mutex
	evs   map[uint64]Event
	bytes int64
	max   int64
}

// drop forgets seq, finished.
func (a *readAhead) drop(seq uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ev, ok := a.evs[seq]; ok {
		delete(a.evs, seq)
		a.bytes -= int64(len(ev.Body))
	}
}

// take removes and returns the event seq if it was read ahead.
func (a *readAhead) take(seq uint64) (Event, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ev, ok := a.evs[seq]
	if ok {
		delete(a.evs, seq)
		a.bytes -= int64(len(ev.Body))
	}
	return ev, ok
}

// put keeps ev while the budget allows.
func (a *readAhead) put(ev Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.evs[ev.Seq]; ok || a.bytes+int64(len(ev.Body)) > a.max {
		return
	}
	if a.evs == nil {
		a.evs = make(map[uint64]Event)
	}
	a.evs[ev.Seq] = ev
	a.bytes += int64(len(ev.Body))
}

// read returns the pending event seq from the read-ahead, else reads it
// from the file with the chunk after it, keeping the other pending events
// found there. Compaction may swap the file meanwhile: a read of the old
// one, closed, is tried again.
func (d *Disk) read(seq uint64) (Event, error) {
	if ev, ok := d.ahead.take(seq); ok {
		return ev, nil
	}
	for {
		d.fileMu.Lock()
		f := d.f
		p, ok := d.places[seq]
		d.fileMu.Unlock()
		if !ok {
			return Event{}, fmt.Errorf("spool: %s: pending event %d vanished", d.cfg.Path, seq)
		}
		if ev, ok, err := d.readChunk(f, seq, p.rec.off); errors.Is(err, os.ErrClosed) {
			continue
		} else if ok {
			return ev, nil
		}
		// Not found whole in the chunk: read just its frame, which checks it.
		r, err := readRecord(f, seq, p)
		if errors.Is(err, os.ErrClosed) {
			continue
		}
		if err != nil {
			return Event{}, fmt.Errorf("spool: %s: %w", d.cfg.Path, err)
		}
		return r.Event, nil
	}
}

// readChunk reads readAheadChunk bytes of f from off, where seq's record
// lies, and decodes the whole, intact record frames in it that are still
// pending there (places says so: they are synced and not yet handed out or
// finished). It returns seq's event and keeps the others ahead. A frame
// that is cut off or fails its checksum (a write under way, or damage, which
// readRecord then reports) ends the chunk.
func (d *Disk) readChunk(f *os.File, seq uint64, off int64) (Event, bool, error) {
	buf := make([]byte, readAheadChunk)
	n, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return Event{}, false, err
	}
	buf = buf[:n]
	type found struct {
		off     int64
		payload []byte
	}
	var frames []found
	var offs []int64
	for at := 0; at+frameHeader < len(buf); {
		size := int(binary.LittleEndian.Uint32(buf[at:]))
		end := at + frameHeader + size
		if size == 0 || end > len(buf) {
			break
		}
		payload := buf[at+frameHeader : end]
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(buf[at+4:]) {
			break
		}
		if payload[0] == frameRecord {
			frames = append(frames, found{off: off + int64(at), payload: payload})
		}
		at = end
	}
	var evs []Event
	for _, fr := range frames {
		dec := decoder{b: fr.payload[1:]}
		r, _ := dec.record()
		if dec.err == nil { // else readRecord reports it, if it is the one wanted
			r.Event.stored = true
			r.Event.Seq = r.Seq
			evs = append(evs, r.Event)
			offs = append(offs, fr.off)
		}
	}
	// Under fileMu, which apply holds while it takes finished events out of
	// places and the read-ahead: none is put back after that.
	d.fileMu.Lock()
	defer d.fileMu.Unlock()
	var want Event
	var ok bool
	for i, ev := range evs {
		if p, pending := d.places[ev.Seq]; !pending || p.state != Pending || p.rec.off != offs[i] {
			continue
		}
		if ev.Seq == seq {
			want, ok = ev, true
		} else {
			d.ahead.put(ev)
		}
	}
	return want, ok, nil
}
