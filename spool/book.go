package spool

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
)

// place is where a live record's frames lie in the file, and its state,
// packed into 32 bytes: the spool keeps one for every pending, dead and
// kept delivered event.
type place struct {
	recOff, outOff int64 // the record (a frameRecord or frameFinished); its frameOutcome, or while pending its latest frameTried
	recN, outN     int32 // their sizes; outN is 0 when there is no such frame
	code           byte  // the state (stateCode)
}

func newPlace(rec span, state State) place {
	return place{recOff: rec.off, recN: rec.n, code: stateCode(state)}
}

func (p place) rec() span { return span{off: p.recOff, n: p.recN} }
func (p place) out() span { return span{off: p.outOff, n: p.outN} }

// state is Pending, Delivered or Dead.
func (p place) state() State {
	s, _ := stateOf(p.code)
	return s
}

// finish records the outcome frame at out and the state it gives.
func (p *place) finish(out span, state State) {
	p.outOff, p.outN, p.code = out.off, out.n, stateCode(state)
}

// size is the bytes of the record's live frames.
func (p place) size() int64 { return int64(p.recN) + int64(p.outN) }

// finishedAt is a delivered record and when it was delivered, for bounding
// the delivered history.
type finishedAt struct {
	seq uint64
	at  time.Time
}

// book is what a spool file's frames say, read in order: every live
// record's place, and the order in which records were delivered.
type book struct {
	places    map[uint64]place
	keys      map[uint64]string // ordering key of each pending record
	delivered []finishedAt      // oldest first; may name records since forgotten
	maxSeq    uint64
	ids       map[uint64]string // each record's delivery id, when not nil
	rejected  map[uint64]bool   // with ids: the records refused on arrival
}

func newBook() *book {
	return &book{places: make(map[uint64]place), keys: make(map[uint64]string)}
}

// readBook scans f into a book.
func readBook(f *os.File) (*book, int64, error) {
	b := newBook()
	end, err := scan(f, b.apply)
	return b, end, err
}

// apply takes one frame into the book.
func (b *book) apply(kind byte, payload []byte, at span) error {
	d := decoder{b: payload}
	switch kind {
	case frameRecord, frameFinished:
		r, replaces := d.record()
		if r.Seq == 0 && d.err == nil {
			// Never written (seqs start at 1), and the index would give
			// the event another seq, which Next could not read back.
			d.err = errors.New("seq 0, where events are numbered from 1")
		}
		p := newPlace(at, Pending)
		if kind == frameFinished {
			o := d.outcome()
			p.code = stateCode(o.State)
			if o.State == Delivered {
				b.delivered = append(b.delivered, finishedAt{r.Seq, o.Finished})
			}
		} else {
			b.keys[r.Seq] = r.Key
		}
		if d.err != nil {
			return fmt.Errorf("%w %d: %v", errCorrupt, r.Seq, d.err)
		}
		if replaces != 0 {
			b.forget(replaces)
		}
		b.places[r.Seq] = p
		if b.ids != nil {
			b.ids[r.Seq] = r.ID
			if r.Rejected {
				b.rejected[r.Seq] = true
			}
		}
		b.maxSeq = max(b.maxSeq, r.Seq)
	case frameOutcome:
		seq := d.uvarint("seq")
		o := d.outcome()
		if d.err != nil {
			return fmt.Errorf("%w %d: outcome: %v", errCorrupt, seq, d.err)
		}
		p, ok := b.places[seq]
		if !ok || p.state() != Pending {
			return nil // superseded: garbage
		}
		p.finish(at, o.State)
		b.places[seq] = p
		delete(b.keys, seq)
		if o.State == Delivered {
			b.delivered = append(b.delivered, finishedAt{seq, o.Finished})
		}
	case frameTried:
		seq := d.uvarint("seq")
		d.attempts()
		if d.err != nil {
			return fmt.Errorf("%w %d: attempts: %v", errCorrupt, seq, d.err)
		}
		if p, ok := b.places[seq]; ok && p.state() == Pending {
			p.outOff, p.outN = at.off, at.n
			b.places[seq] = p
		} // else superseded: garbage
	case frameForget:
		n := d.uvarint("count")
		if n > uint64(len(d.b)) { // each seq takes at least one byte
			d.fail("count")
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			if seq := d.uvarint("seq"); d.err == nil {
				b.forget(seq)
			}
		}
		if d.err != nil {
			return fmt.Errorf("%w: forget frame at offset %d: %v", errCorrupt, at.off, d.err)
		}
	default:
		return fmt.Errorf("%w: frame at offset %d has unknown kind %d", errCorrupt, at.off, kind)
	}
	return nil
}

// forget drops a record from the book.
func (b *book) forget(seq uint64) {
	delete(b.places, seq)
	delete(b.keys, seq)
	delete(b.ids, seq)
	delete(b.rejected, seq)
}

// seqs returns the seqs of the records in any of states, in arrival order.
func (b *book) seqs(states ...State) []uint64 {
	var out []uint64
	for seq, p := range b.places {
		if slices.Contains(states, p.state()) {
			out = append(out, seq)
		}
	}
	slices.Sort(out)
	return out
}

// live is the bytes of every live frame, dead those of dead letters, and
// letters how many dead letters there are.
func (b *book) live() (live, dead, letters int64) {
	for _, p := range b.places {
		live += p.size()
		if p.state() == Dead {
			dead += p.size()
			letters++
		}
	}
	return live, dead, letters
}

// readRecord reads the record at p from f, with its outcome. Its body
// shares the memory read, which nothing else holds.
func readRecord(f *os.File, seq uint64, p place) (Record, error) {
	return decodeRecord(func(s span) ([]byte, error) { return readFrame(f, s) }, seq, p)
}

// decodeRecord reads the record at p, with its outcome, with read. Its
// body shares the memory read returns.
func decodeRecord(read func(span) ([]byte, error), seq uint64, p place) (Record, error) {
	payload, err := read(p.rec())
	if err != nil {
		return Record{}, err
	}
	d := decoder{b: payload[1:]}
	r, _ := d.record()
	if payload[0] == frameFinished {
		r.apply(d.outcome())
	}
	if d.err == nil && r.Seq != seq {
		d.err = fmt.Errorf("seq %d found", r.Seq)
	}
	if d.err == nil && p.outN > 0 {
		var out []byte
		if out, err = read(p.out()); err != nil {
			return Record{}, err
		}
		d = decoder{b: out[1:]}
		d.uvarint("seq")
		if out[0] == frameTried {
			r.Tried = Keep(d.attempts())                      // an older version kept them all
			r.Attempts = Keep(append(r.Attempts, r.Tried...)) // one bounded history across replays
		} else {
			r.apply(d.outcome())
		}
	}
	if d.err != nil {
		return Record{}, fmt.Errorf("%w %d: %v", errCorrupt, seq, d.err)
	}
	return r, nil
}
