package spool

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// The functions of this file serve the `events` commands. List and Find
// only read, so they work while an agent runs (they see the file as it was
// when they read it); Replay and Purge take the file's lock and fail with
// an error wrapping ErrLocked while an agent holds it.

// MinPrefix is the shortest delivery id prefix Find and Replay accept.
const MinPrefix = 8

// Sentinels of Find and Replay, wrapped with the file and the id asked for.
var (
	ErrNotFound  = errors.New("no such event")
	ErrAmbiguous = errors.New("ambiguous delivery id prefix")
)

// lockTimeout is how long the events commands wait for a running agent.
const lockTimeout = 500 * time.Millisecond

// List reads the records in one state from a spool file, oldest first.
func List(path string, state State) ([]Record, error) {
	f, b, err := readOnly(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Record
	for _, seq := range b.seqs(state) {
		r, err := readRecord(f, seq, b.places[seq])
		if err != nil {
			return nil, notSpool(path, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Find returns the record, in any state, whose delivery id is idOrPrefix
// or starts with it; a prefix must have at least MinPrefix characters and
// match one record only.
func Find(path, idOrPrefix string) (Record, error) {
	f, b, err := readOnly(path)
	if err != nil {
		return Record{}, err
	}
	defer f.Close()
	m, err := b.find(idOrPrefix)
	if err != nil {
		return Record{}, fmt.Errorf("spool: %s: %w", path, err)
	}
	r, err := readRecord(f, m.seq, b.places[m.seq])
	if err != nil {
		return Record{}, notSpool(path, err)
	}
	return r, nil
}

// Selection chooses the records Replay puts back. Its parts add up.
// Frames refused on arrival (Record.Rejected) are never chosen.
type Selection struct {
	IDs   []string  // delivery ids or unique prefixes (see Find) of dead or delivered records
	Dead  bool      // every dead letter
	Since time.Time // every dead or delivered record finished at or after Since, when not zero
}

// Replay puts the selected dead and delivered records back as pending,
// oldest first, each with a new seq after every other, in one write and
// sync. A replayed record keeps its delivery id, its key and its attempt
// history; its Replays count grows by one and its outcome (State, Reason,
// Finished) is cleared. The agent delivers it at its next start. Naming a
// pending record is an error; nothing is moved then.
func Replay(path string, sel Selection) (int, error) {
	f, b, end, err := readWritable(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	chosen := map[uint64]bool{}
	for _, id := range sel.IDs {
		m, err := b.find(id)
		if err != nil {
			return 0, fmt.Errorf("spool: %s: %w", path, err)
		}
		if m.state == Pending {
			return 0, fmt.Errorf("spool: %s: %s (%.8s) is still pending: listen delivers it at its next start", path, id, m.id)
		}
		if b.rejected[m.seq] {
			return 0, fmt.Errorf("spool: %s: %s (%.8s) was refused on arrival (its signature did not verify): it is never forwarded", path, id, m.id)
		}
		chosen[m.seq] = true
	}
	for seq, p := range b.places {
		if p.state() == Dead && sel.Dead && !b.rejected[seq] {
			chosen[seq] = true
		}
	}
	var buf []byte
	seq := b.maxSeq
	for _, old := range sortedKeys(chosen, b, sel.Since) {
		r, err := readRecord(f, old, b.places[old])
		if err != nil {
			return 0, notSpool(path, err)
		}
		if sel.Since.IsZero() || chosen[old] || !r.Finished.Before(sel.Since) {
			seq++
			r.Seq = seq
			r.State, r.Reason, r.Finished = Pending, "", time.Time{}
			r.Replays++
			r.Replayed = time.Now()
			var at int
			buf, at = beginFrame(buf, frameRecord)
			buf = appendRecord(buf, &r, old)
			endFrame(buf, at)
		}
	}
	return int(seq - b.maxSeq), writeEnd(f, path, buf, end)
}

// sortedKeys returns the seqs chosen, and with since every dead or
// delivered one (Replay checks their finish time), in arrival order, so
// each key's replayed events keep their order.
func sortedKeys(chosen map[uint64]bool, b *book, since time.Time) []uint64 {
	var seqs []uint64
	for seq, p := range b.places {
		if chosen[seq] || (!since.IsZero() && p.state() != Pending && !b.rejected[seq]) {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	return seqs
}

// Purge deletes every record in state, which must be Dead or Delivered,
// and reports how many there were. The running agent's next compaction
// drops their bytes from the file.
func Purge(path string, state State) (int, error) {
	if state != Dead && state != Delivered {
		return 0, fmt.Errorf("spool: %s: purge %s: only dead or delivered events can be purged", path, state)
	}
	f, b, end, err := readWritable(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	seqs := b.seqs(state)
	if len(seqs) == 0 {
		return 0, nil
	}
	buf, at := beginFrame(nil, frameForget)
	buf = binary.AppendUvarint(buf, uint64(len(seqs)))
	for _, seq := range seqs {
		buf = binary.AppendUvarint(buf, seq)
	}
	endFrame(buf, at)
	return len(seqs), writeEnd(f, path, buf, end)
}

// match is one record found by its id: where it is.
type match struct {
	seq   uint64
	state State
	id    string
}

// find looks idOrPrefix up among every record: an exact id wins, else a
// prefix of at least MinPrefix characters that matches one record.
func (b *book) find(idOrPrefix string) (match, error) {
	var found []match
	for seq, p := range b.places {
		if id := b.ids[seq]; strings.HasPrefix(id, idOrPrefix) {
			found = append(found, match{seq: seq, state: p.state(), id: id})
		}
	}
	slices.SortFunc(found, func(a, b match) int { return cmp.Compare(a.seq, b.seq) })
	for _, m := range found {
		if m.id == idOrPrefix {
			return m, nil
		}
	}
	switch {
	case len(idOrPrefix) < MinPrefix:
		return match{}, fmt.Errorf("delivery id %q is too short: give the whole id or at least %d characters of it", idOrPrefix, MinPrefix)
	case len(found) == 0:
		return match{}, fmt.Errorf("%w: no delivery id is or starts with %q", ErrNotFound, idOrPrefix)
	case len(found) > 1:
		ids := make([]string, len(found))
		for i, m := range found {
			ids[i] = m.id + " (" + string(m.state) + ")"
		}
		return match{}, fmt.Errorf("%w: %q matches %s; give more of it", ErrAmbiguous, idOrPrefix, strings.Join(ids, ", "))
	}
	return found[0], nil
}

// readOnly opens an existing spool file without its lock (an agent may be
// writing it: a frame it has only half written ends the read) and reads
// its book, with every record's delivery id.
func readOnly(path string) (*os.File, *book, error) {
	f, err := openFile(path, os.O_RDONLY)
	if err != nil {
		return nil, nil, err
	}
	b, _, err := readAdminBook(f, path)
	if err != nil {
		return nil, nil, err
	}
	return f, b, nil
}

// readWritable opens an existing spool file with its lock and reads its
// book, with every record's delivery id; end is where the next frame goes.
func readWritable(path string) (*os.File, *book, int64, error) {
	f, err := openLocked(path, false, lockTimeout)
	if err != nil {
		return nil, nil, 0, err
	}
	b, end, err := readAdminBook(f, path)
	if err != nil {
		return nil, nil, 0, err
	}
	return f, b, end, nil
}

// readAdminBook scans f into a book that also keeps every record's
// delivery id and which were refused on arrival. On an error it closes f.
func readAdminBook(f *os.File, path string) (*book, int64, error) {
	b := newBook()
	b.ids, b.rejected = make(map[uint64]string), make(map[uint64]bool)
	end, err := scan(f, b.apply)
	if err != nil {
		f.Close()
		return nil, 0, notSpool(path, err)
	}
	return b, end, nil
}

// writeEnd writes buf at end (over a torn tail, if any) and syncs.
func writeEnd(f *os.File, path string, buf []byte, end int64) error {
	if len(buf) == 0 {
		return nil
	}
	if err := f.Truncate(end); err != nil {
		return fmt.Errorf("spool: %s: %w", path, err)
	}
	batch, at := beginBatch(nil)
	batch = append(batch, buf...)
	sealBatch(batch, at)
	if _, err := f.WriteAt(batch, end); err != nil {
		return fmt.Errorf("spool: %s: write: %w", path, err)
	}
	if err := datasync(f); err != nil {
		return fmt.Errorf("spool: %s: sync: %w", path, err)
	}
	return nil
}
