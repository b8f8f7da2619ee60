package spool

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/console"
)

// The functions of this file serve the `events` commands. Records, List
// and Find only read, so they work while an agent runs (they see the file
// as it was when they read it); Replay and Purge take the file's lock and
// fail with an error wrapping ErrLocked while an agent holds it. Records,
// Find, Replay and PurgeStates report the file's Tail, for the caller to
// warn of it; only a Replay or Purge that writes cuts it off.

// MinPrefix is the shortest delivery id prefix Find and Replay accept.
const MinPrefix = 8

// Sentinels of Find and Replay, wrapped with the file and the id asked for.
var (
	ErrNotFound  = errors.New("no such event")
	ErrAmbiguous = errors.New("ambiguous delivery id prefix")
)

// lockTimeout is how long the events commands wait for a running agent.
const lockTimeout = 500 * time.Millisecond

// Tail is an unfinished write at the end of a spool file: the bytes after
// its last intact batch (see scan). A crash came before their sync, so
// none of their events was counted as received; or, with no crash, they
// are damaged. A writer (Disk at its start, Replay and Purge when they
// write) cuts them off. Bytes is 0 when the file has no such tail.
type Tail struct {
	Offset int64 // where the intact data ends
	Bytes  int64 // how many bytes follow it
	Cut    bool  // Replay or Purge cut them off to write there
}

// Records reads the records in any of states (every state when none is
// given) from a spool file, oldest first, and reports its tail. While an
// agent holds the file, the bytes after its intact data are the agent's
// write in progress: no tail then.
func Records(path string, states ...State) ([]Record, Tail, error) {
	f, b, tail, err := readOnly(path)
	if err != nil {
		return nil, Tail{}, err
	}
	defer f.Close()
	if len(states) == 0 {
		states = []State{Pending, Dead, Delivered}
	}
	seqs := b.seqs(states...)
	out := make([]Record, 0, len(seqs))
	for _, seq := range seqs {
		r, err := readRecord(f, seq, b.places[seq])
		if err != nil {
			return nil, tail, notSpool(path, err)
		}
		out = append(out, r)
	}
	return out, tail, nil
}

// List reads the records in one state from a spool file, oldest first
// (Records without the tail).
func List(path string, state State) ([]Record, error) {
	recs, _, err := Records(path, state)
	return recs, err
}

// Find returns the record, in any state, whose delivery id is idOrPrefix
// or starts with it; a prefix must have at least MinPrefix characters and
// match one record only. It reports the file's tail as Records does, with
// an error too.
func Find(path, idOrPrefix string) (Record, Tail, error) {
	f, b, tail, err := readOnly(path)
	if err != nil {
		return Record{}, Tail{}, err
	}
	defer f.Close()
	m, err := b.find(idOrPrefix)
	if err != nil {
		return Record{}, tail, fmt.Errorf("spool: %s: %w", path, err)
	}
	r, err := readRecord(f, m.seq, b.places[m.seq])
	if err != nil {
		return Record{}, tail, notSpool(path, err)
	}
	return r, tail, nil
}

// Selection chooses the records Replay puts back: the ones IDs name, or
// else the dead and delivered records that pass every filter set (Dead,
// Since); IDs do not mix with the filters. Frames refused on arrival
// (Record.Rejected) are never chosen.
type Selection struct {
	IDs   []string  // delivery ids or unique prefixes (see Find) of dead or delivered records
	Dead  bool      // filter: dead letters only (else dead and delivered records)
	Since time.Time // filter, when not zero: records finished at or after Since only
}

// Replayed is what Replay did.
type Replayed struct {
	N       int // records put back as pending
	Refused int // frames refused on arrival that the filters matched, left dead
	// NonEvents counts frames kept although not events (Record.NonEvent)
	// that the filters matched, left dead: replayed only by id.
	NonEvents int
	Tail      Tail // the file's tail; cut when N > 0
}

// Replay puts the selected dead and delivered records back as pending,
// oldest first, each with a new seq after every other, in one write and
// sync (over the file's tail, if any). A replayed record keeps its
// delivery id, its key and its attempt history; its Replays count grows
// by one and its outcome (State, Reason, Finished) is cleared. The agent
// delivers it at its next start. Naming a pending record, or a frame
// refused on arrival, is an error; nothing is moved then.
func Replay(path string, sel Selection) (Replayed, error) {
	if err := sel.check(); err != nil {
		return Replayed{}, fmt.Errorf("spool: %s: %w", path, err)
	}
	f, b, tail, err := readWritable(path)
	if err != nil {
		return Replayed{}, err
	}
	defer f.Close()
	res := Replayed{Tail: tail}
	chosen, err := b.choose(sel)
	if err != nil {
		return res, fmt.Errorf("spool: %s: %w", path, err)
	}
	var (
		buf     []byte
		batches [][]byte // of about maxBatchBytes each: a dead letter's body is up to 64 MiB
	)
	seq := b.maxSeq
	for _, old := range chosen {
		r, err := readRecord(f, old, b.places[old])
		if err != nil {
			return res, notSpool(path, err)
		}
		if !replayable(&r, sel, b.rejected[old], &res) {
			continue
		}
		seq++
		r.Seq = seq
		var at int
		buf, at = beginFrame(buf, frameRecord)
		buf = appendRecord(buf, &r, old)
		endFrame(buf, at)
		if len(buf) >= maxBatchBytes {
			batches, buf = append(batches, buf), nil
		}
	}
	if len(buf) > 0 {
		batches = append(batches, buf)
	}
	if err := writeEnd(f, path, batches, &res.Tail); err != nil {
		return res, err
	}
	res.N = int(seq - b.maxSeq)
	return res, nil
}

// replayable reports whether the chosen record r is replayed: not when it
// finished before sel.Since, nor when it was refused on arrival (counted
// in res). A replayed r becomes a fresh start, pending again; the caller
// gives it its new seq.
func replayable(r *Record, sel Selection, refused bool, res *Replayed) bool {
	switch {
	case !sel.Since.IsZero() && r.Finished.Before(sel.Since):
		return false
	case refused:
		res.Refused++
		return false
	case r.NonEvent && len(sel.IDs) == 0:
		res.NonEvents++
		return false
	}
	r.State, r.Reason, r.Finished = Pending, "", time.Time{}
	r.Replays++
	r.Replayed = time.Now()
	return true
}

// check refuses a selection that mixes ids and filters, or names nothing.
func (sel Selection) check() error {
	filtered := sel.Dead || !sel.Since.IsZero()
	switch {
	case len(sel.IDs) > 0 && filtered:
		return errors.New("replay: give delivery ids or filters (dead, since), not both")
	case len(sel.IDs) == 0 && !filtered:
		return errors.New("replay: nothing selected")
	}
	return nil
}

// choose returns the seqs of the records sel names, or of the dead (with
// sel.Dead) or dead and delivered records, refused ones included (Replay
// filters them, and by finish time), in arrival order, so each key's
// replayed events keep their order.
func (b *book) choose(sel Selection) ([]uint64, error) {
	if len(sel.IDs) == 0 {
		if sel.Dead {
			return b.seqs(Dead), nil
		}
		return b.seqs(Dead, Delivered), nil
	}
	chosen := map[uint64]bool{}
	for _, id := range sel.IDs {
		m, err := b.find(id)
		if err != nil {
			return nil, err
		}
		if m.state == Pending {
			return nil, fmt.Errorf("event %s is still pending: listen delivers it at its next start; nothing was replayed", m.id)
		}
		if b.rejected[m.seq] {
			return nil, fmt.Errorf("event %s was refused on arrival by --verify-secret (`events show` gives the reason), and a refused frame is never replayed; nothing was replayed", m.id)
		}
		chosen[m.seq] = true
	}
	seqs := slices.Collect(maps.Keys(chosen))
	slices.Sort(seqs)
	return seqs, nil
}

// Purge deletes every record in state, which must be Dead or Delivered,
// and reports how many there were (PurgeStates with one state).
func Purge(path string, state State) (int, error) {
	n, _, err := PurgeStates(path, state)
	if err != nil {
		return 0, err
	}
	return n[0], nil
}

// PurgeStates deletes every record in states, each Dead or Delivered, in
// one write and sync (over the file's tail, if any), and reports how many
// there were in each. The running agent's next compaction drops their
// bytes from the file.
func PurgeStates(path string, states ...State) ([]int, Tail, error) {
	if err := checkPurgeStates(path, states); err != nil {
		return nil, Tail{}, err
	}
	f, b, tail, err := readWritable(path)
	if err != nil {
		return nil, Tail{}, err
	}
	defer f.Close()
	n := make([]int, len(states))
	var seqs []uint64
	for i, s := range states {
		if !slices.Contains(states[:i], s) {
			more := b.seqs(s)
			n[i] = len(more)
			seqs = append(seqs, more...)
		}
	}
	if len(seqs) == 0 {
		return n, tail, nil
	}
	buf, at := beginFrame(nil, frameForget)
	buf = binary.AppendUvarint(buf, uint64(len(seqs)))
	for _, seq := range seqs {
		buf = binary.AppendUvarint(buf, seq)
	}
	endFrame(buf, at)
	err = writeEnd(f, path, [][]byte{buf}, &tail)
	return n, tail, err
}

// checkPurgeStates refuses a purge of no state, or of pending events.
func checkPurgeStates(path string, states []State) error {
	if len(states) == 0 {
		return fmt.Errorf("spool: %s: purge: no state given", path)
	}
	for _, s := range states {
		if s != Dead && s != Delivered {
			return fmt.Errorf("spool: %s: purge %s: only dead or delivered events can be purged", path, s)
		}
	}
	return nil
}

// match is one record found by its id: where it is.
type match struct {
	seq   uint64
	state State
	id    string
}

// find looks idOrPrefix up among every record: an exact id wins, else a
// prefix of at least MinPrefix characters that matches one record. Case
// does not matter: ids are UUIDs, which a user may copy in capitals.
func (b *book) find(idOrPrefix string) (match, error) {
	var found []match
	want := strings.ToLower(idOrPrefix)
	for seq, p := range b.places {
		if id := b.ids[seq]; strings.HasPrefix(strings.ToLower(id), want) {
			found = append(found, match{seq: seq, state: p.state(), id: id})
		}
	}
	slices.SortFunc(found, func(a, b match) int { return cmp.Compare(a.seq, b.seq) })
	for _, m := range found {
		if strings.EqualFold(m.id, idOrPrefix) {
			return m, nil
		}
	}
	switch {
	case len(idOrPrefix) < MinPrefix:
		return match{}, fmt.Errorf("%w: give the whole id or at least %d characters of it", &tooShortError{idOrPrefix}, MinPrefix)
	case len(found) == 0:
		return match{}, fmt.Errorf("%w: no delivery id is or starts with %q", ErrNotFound, console.Clip(idOrPrefix, 64)) // a pasted page is not said back whole
	case len(found) > 1:
		ids := make([]string, len(found))
		for i, m := range found {
			ids[i] = m.id + " (" + string(m.state) + ")"
		}
		return match{}, fmt.Errorf("%w: %q matches %s; give more of it", ErrAmbiguous, idOrPrefix, strings.Join(ids, ", "))
	}
	return found[0], nil
}

// tooShortError is find's error for a prefix too short to look up that is
// no whole id either (among the records looked at).
type tooShortError struct{ id string }

func (e *tooShortError) Error() string { return fmt.Sprintf("delivery id %q is too short", e.id) }

// readOnly opens an existing spool file without its lock (an agent may be
// writing it: a frame it has only half written ends the read) and reads
// its book, with every record's delivery id, and its tail.
func readOnly(path string) (*os.File, *book, Tail, error) {
	f, err := openFile(path, os.O_RDONLY)
	if err != nil {
		return nil, nil, Tail{}, err
	}
	b, tail, err := readAdminBook(f, path)
	if err != nil {
		return nil, nil, Tail{}, err
	}
	if tail.Bytes > 0 && held(path) {
		tail = Tail{} // the agent's write in progress, or one made since the scan
	}
	return f, b, tail, nil
}

// InUse reports whether a process, an agent, holds the spool file at path
// now (see held).
func InUse(path string) bool { return held(path) }

// held reports whether a process, an agent, holds the lock of the file at
// path now. Trying the lock changes nothing in the file; if it is free, it
// is let go at once.
func held(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return errors.Is(lockFile(f, time.Time{}), ErrLocked)
}

// readWritable opens an existing spool file with its lock and reads its
// book, with every record's delivery id, and its tail: the next frame
// goes at tail.Offset.
func readWritable(path string) (*os.File, *book, Tail, error) {
	f, err := openLocked(path, false, lockTimeout)
	if err != nil {
		return nil, nil, Tail{}, err
	}
	b, tail, err := readAdminBook(f, path)
	if err != nil {
		return nil, nil, Tail{}, err
	}
	return f, b, tail, nil
}

// readAdminBook scans f into a book that also keeps every record's
// delivery id and which were refused on arrival, and measures the bytes
// after the intact data. On an error it closes f.
func readAdminBook(f *os.File, path string) (*book, Tail, error) {
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, Tail{}, fmt.Errorf("spool: %w", err)
	}
	b := newBook()
	b.ids, b.rejected = make(map[uint64]string), make(map[uint64]bool)
	if fi.Size() == 0 {
		return b, Tail{}, nil // created, and a crash came before its header: listen starts it anew
	}
	end, err := scan(f, b.apply)
	if err != nil {
		f.Close()
		return nil, Tail{}, notSpool(path, err)
	}
	return b, Tail{Offset: end, Bytes: max(fi.Size()-end, 0)}, nil
}

// writeEnd writes payloads, each as a batch of its own, at the end of the
// intact data, cutting off the tail (and marking it cut) if there is one,
// with one write and one sync per batch: a crash may tear the last batch
// only, as a start takes anything more for damage (see tornOrDamaged). A
// cut is synced before anything is written where it was. It writes
// nothing, and cuts nothing, when there is no payload.
func writeEnd(f *os.File, path string, payloads [][]byte, tail *Tail) error {
	if len(payloads) == 0 {
		return nil
	}
	// The file's modification time is when its last listen stopped
	// reading (LastRun), where the next one's "missed" window begins: an
	// offline replay or purge keeps it, or the window would begin at the
	// command, and events sent before it fall in none.
	if fi, err := f.Stat(); err == nil {
		defer os.Chtimes(path, time.Time{}, fi.ModTime())
	}
	if err := f.Truncate(tail.Offset); err != nil {
		return fmt.Errorf("spool: %s: %w", path, err)
	}
	tail.Cut = tail.Bytes > 0
	if tail.Cut {
		// Else a crash could bring back the cut bytes after a batch
		// written over their start.
		if err := datasync(f); err != nil {
			return fmt.Errorf("spool: %s: %w", path, err)
		}
	}
	if err := raiseVersion(f); err != nil { // what follows may be of the current format only
		return fmt.Errorf("spool: %s: %w", path, err)
	}
	end := tail.Offset
	var batch []byte
	for _, p := range payloads {
		var at int
		batch, at = beginBatch(batch[:0])
		batch = append(batch, p...)
		sealBatch(batch, at)
		if _, err := f.WriteAt(batch, end); err != nil {
			return unwrite(f, path, tail.Offset, fmt.Errorf("write: %w", unwrapPath(err)))
		}
		if err := datasync(f); err != nil {
			return unwrite(f, path, tail.Offset, fmt.Errorf("sync: %w", err))
		}
		end += int64(len(batch))
	}
	return nil
}

// unwrite cuts off what a failed write (a full disk, say) left after end,
// so that the file is as it was and the next command or listen does not
// find a torn write to cut, and returns err naming the file.
func unwrite(f *os.File, path string, end int64, err error) error {
	terr := f.Truncate(end)
	if terr == nil {
		// Synced: else a crash could bring back the batches written before
		// the failed one, which the command says it did not make.
		terr = datasync(f)
	}
	if terr != nil {
		return fmt.Errorf("spool: %s: %w (what it wrote could not be cut off: %v; part of the change may have been made: list the spool to see)", path, err, unwrapPath(terr))
	}
	return fmt.Errorf("spool: %s: %w (nothing was changed)", path, err)
}

// unwrapPath drops the *os.PathError around err: the spool's path is
// named once, by the caller.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
