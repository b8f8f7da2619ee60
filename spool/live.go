package spool

// The events commands that change a spool (replay, purge) act on a running
// one through its Disk, asked over listen's control socket: this file.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ReplayLive is Replay for the spool this Disk runs: while the agent
// holds the file, the `events replay` command asks it (through listen's
// control socket) instead of writing the file itself. The chosen records
// are put back as pending, each with a new seq after every other, with
// its delivery id, key and attempt history, and handed out after the
// events already waiting, as a restart would. It returns once they are on
// disk, or ctx is done first (then they may yet be stored and delivered).
func (d *Disk) ReplayLive(ctx context.Context, sel Selection) (Replayed, error) {
	if err := sel.check(); err != nil {
		return Replayed{}, fmt.Errorf("spool: %s: %w", d.cfg.Path, err)
	}
	if err := d.noRoom("replay", whileShort); err != nil {
		return Replayed{}, err
	}
	// Outcomes queued before the request count: a dead letter just logged
	// is replayed.
	if err := d.barrier(ctx, d.stallSig(whileShort), whileShort); err != nil {
		return Replayed{}, d.waitError("replay", err, false)
	}
	b, err := d.finished()
	if err != nil {
		return Replayed{}, fmt.Errorf("spool: %s: %w", d.cfg.Path, err)
	}
	var res Replayed
	chosen, err := b.choose(sel)
	var short *tooShortError
	if errors.Is(err, ErrNotFound) || errors.As(err, &short) {
		if id, ok := d.pendingNamed(sel.IDs); ok {
			err = fmt.Errorf("event %s is still pending: the running listen delivers it as it is; nothing was replayed", id)
		} else if short == nil {
			err = fmt.Errorf("%w among the pending, dead and delivered events", err)
		}
	}
	if err != nil {
		return res, fmt.Errorf("spool: %s: %w", d.cfg.Path, err)
	}
	var again []Record
	for _, seq := range chosen {
		r, err := d.read(seq) // its body too, this time
		if err != nil && !d.has(seq) {
			continue // pruned from the history meanwhile
		}
		if err != nil {
			return res, err
		}
		if replayable(&r, sel, b.rejected[seq], &res) {
			again = append(again, r)
		}
	}
	if len(again) == 0 {
		return res, nil
	}
	if err := d.roomFor(again); err != nil {
		return res, err
	}
	stored := make(chan struct{})
	if err := d.requeue(again, func(Event) { close(stored) }); err != nil {
		return res, fmt.Errorf("spool: %s: replay: %w", d.cfg.Path, err)
	}
	if err := d.await(ctx, stored, d.stallSig(whileShort), whileShort); err != nil {
		return res, d.waitError("replay", err, true)
	}
	res.N = len(again)
	return res, nil
}

// pendingNamed returns the delivery id of a pending event that one of ids
// names, whole or by a prefix of at least MinPrefix characters, reading
// the pending records back: only for a replay by id that found none among
// the dead and delivered (finished leaves pending ones out, as a backlog
// may take long to read).
func (d *Disk) pendingNamed(ids []string) (string, bool) {
	var seqs []uint64
	d.fileMu.Lock()
	for seq, p := range d.places {
		if p.state() == Pending {
			seqs = append(seqs, seq)
		}
	}
	d.fileMu.Unlock()
	slices.Sort(seqs)
	for _, seq := range seqs {
		r, err := d.read(seq)
		if err != nil {
			continue // delivered meanwhile, or the file closed
		}
		for _, id := range ids {
			if strings.EqualFold(r.ID, id) || len(id) >= MinPrefix && strings.HasPrefix(strings.ToLower(r.ID), strings.ToLower(id)) {
				return r.ID, true
			}
		}
	}
	return "", false
}

// A stall is what stops a live replay or purge as the disk fills: the
// spool short of space (whileShort: a replay's records need room it has
// not), or only a write that fails and waits to be tried again
// (whileFailing: a purge writes next to nothing, ahead of new events, so
// it goes on while the spool is short of space, and makes room there).
type stall int

const (
	whileShort stall = iota
	whileFailing
)

// stalled reports how long writes have been stopped in the way s says, or
// 0 if they are not.
func (d *Disk) stalled(s stall) time.Duration {
	if s == whileShort {
		return d.Paused()
	}
	if at := d.failingAt.Load(); at != 0 {
		return time.Since(time.Unix(0, at))
	}
	return 0
}

// stallSig is closed as writes stop in the way s says (see pausing).
func (d *Disk) stallSig(s stall) <-chan struct{} {
	if s == whileShort {
		return d.pausing()
	}
	d.pauseMu.Lock()
	defer d.pauseMu.Unlock()
	return d.failSig
}

// noRoom refuses a replay or purge (what) while writes are stopped in the
// way s says: its records could not be stored before space is back, and
// the command would wait for that in vain. (A disk that fills while one
// waits ends its wait: see await.)
func (d *Disk) noRoom(what string, s stall) error {
	p := d.stalled(s)
	if p <= 0 {
		return nil
	}
	if s == whileShort && d.failingAt.Load() == 0 {
		return fmt.Errorf("spool: %s: %s: %w: it has been short of space for %s, and what a replay puts back needs room; free space, or make room with `events purge --dead` (dead letters stay in the file until purged or replayed), then try again (nothing was changed)",
			d.cfg.Path, what, ErrNoSpace, p.Round(time.Second))
	}
	if f := d.stalled(whileFailing); f > 0 {
		p = f // short of space for longer, maybe: say how long writes fail
	}
	return fmt.Errorf("spool: %s: %s: %w: its writes have failed for %s (a full disk, a quota); free space, then try again (nothing was changed)",
		d.cfg.Path, what, ErrNoSpace, p.Round(time.Second))
}

// roomFor refuses a live replay of recs that the disk has no room for:
// their records, and spaceMargin kept for outcomes. Queued, its write
// would fail and be tried again, holding up every write behind it until
// space came back; on a disk filled by the spool's own garbage, which
// only a compaction frees and that needs room too, it never would (a
// kill loop with replays on a 3 MiB tmpfs). Where the free space is
// unknown, the replay is queued as before.
func (d *Disk) roomFor(recs []Record) error {
	var need int64
	for i := range recs {
		need += int64(len(recs[i].Body) + len(recs[i].Key) + recordSlack)
	}
	free, ok := d.cfg.diskFree(filepath.Dir(d.cfg.Path))
	if !ok || free >= need+spaceMargin {
		return nil
	}
	return fmt.Errorf("spool: %s: replay: %w: the %d events take about %d bytes, and the disk has %d free, of which %d are kept for outcomes; free space, replay fewer at a time (by id, or a shorter --since: each replay's old records are compacted away), or purge what you no longer need (`events purge --delivered`, `--dead`), then try again (nothing was changed)",
		d.cfg.Path, ErrNoSpace, len(recs), need, free, spaceMargin)
}

// has reports whether the file still holds record seq.
func (d *Disk) has(seq uint64) bool {
	d.fileMu.Lock()
	defer d.fileMu.Unlock()
	_, ok := d.places[seq]
	return ok
}

// barrier returns once every write queued before it is on disk (see
// await for paused and s).
func (d *Disk) barrier(ctx context.Context, paused <-chan struct{}, s stall) error {
	done := make(chan struct{})
	if err := d.send(op{kind: opBarrier, committed: func(Event) { close(done) }}); err != nil {
		return err
	}
	return d.await(ctx, done, paused, s)
}

// await waits for done, the end of Run (ErrClosed), ctx, or paused
// (stallSig(s), taken before the write was queued): writes stopping in
// the way s says, which a command is not made to wait out
// (errPausedMeanwhile).
func (d *Disk) await(ctx context.Context, done, paused <-chan struct{}, s stall) error {
	for {
		select {
		case <-done:
			return nil
		case <-d.stopped:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		case <-paused:
		}
		select {
		case <-done: // done as well: select chose at random
			return nil
		default:
		}
		if d.stalled(s) > 0 {
			return errPausedMeanwhile
		}
		// That pause is over (its signal was replaced): wait on.
		if next := d.stallSig(s); next != paused {
			paused = next
		} else {
			paused = nil // a failed write that ended the run: stopped says so
		}
	}
}

// errPausedMeanwhile is await's error when writes began to fail for want
// of space while it waited.
var errPausedMeanwhile = fmt.Errorf("%w: the disk filled as it was written", ErrNoSpace)

// waitError is the error of a live replay or purge (what) whose wait
// ended with err; queued says whether its own write was queued already.
func (d *Disk) waitError(what string, err error, queued bool) error {
	switch {
	case errors.Is(err, errPausedMeanwhile) && queued:
		return fmt.Errorf("spool: %s: %s: %w; it is queued, and is carried out once space is back (if listen stops first, it is not: `events list` shows what it did)", d.cfg.Path, what, err)
	case errors.Is(err, errPausedMeanwhile):
		return fmt.Errorf("spool: %s: %s: %w; free space, then try again (nothing was changed)", d.cfg.Path, what, err)
	}
	return fmt.Errorf("spool: %s: %s: %w", d.cfg.Path, what, err)
}

// requeue queues each record (Seq its old seq) as a new pending one that
// replaces it, and makes it available to Next; committed is called once
// the last is on disk.
func (d *Disk) requeue(recs []Record, committed func(Event)) error {
	d.appendMu.Lock()
	defer d.appendMu.Unlock()
	if d.idx.isClosed() {
		return ErrClosed
	}
	for i := range recs {
		r := recs[i]
		old := r.Seq
		d.seq++
		r.Seq = d.seq
		o := op{kind: opReplay, ev: Event{Seq: r.Seq, Key: r.Key}, admin: &adminOp{rec: &r, replaces: old}}
		if i == len(recs)-1 {
			o.committed = committed
		}
		if err := d.send(o); err != nil {
			d.seq--
			return err
		}
		d.idx.add(Event{Seq: r.Seq, Key: r.Key, stored: true}) // Next reads it back once it is on disk
	}
	return nil
}

// finished reads every dead and delivered record of the file into a book
// that also knows their delivery ids and which were refused on arrival
// (for Selection); their bodies are not kept. Pending records are left
// out: reading each back to learn its id could take long, with a backlog.
// A compaction that swaps the file meanwhile makes it read again; a file
// closed and not swapped (Run ended) is ErrClosed.
func (d *Disk) finished() (*book, error) {
	var tried *os.File
	for {
		d.fileMu.Lock()
		f := d.f
		places := make(map[uint64]place)
		for seq, p := range d.places {
			if s := p.state(); s == Dead || s == Delivered {
				places[seq] = p
			}
		}
		d.fileMu.Unlock()
		if f == tried {
			return nil, ErrClosed
		}
		b := newBook()
		b.ids, b.rejected = make(map[uint64]string, len(places)), make(map[uint64]bool)
		var err error
		for seq, p := range places {
			var r Record
			if r, err = readRecord(f, seq, p); err != nil {
				break
			}
			b.places[seq], b.ids[seq] = p, r.ID
			if r.Rejected {
				b.rejected[seq] = true
			}
		}
		if errors.Is(err, os.ErrClosed) {
			tried = f
			continue // compacted meanwhile, the places moved; or stopped
		}
		return b, err
	}
}

// PurgeLive is PurgeStates for the spool this Disk runs: it forgets every
// record in states (Dead or Delivered), once every write queued before it
// is on disk, and reports how many there were in each, after the forget
// is on disk.
func (d *Disk) PurgeLive(ctx context.Context, states ...State) ([]int, error) {
	if err := checkPurgeStates(d.cfg.Path, states); err != nil {
		return nil, err
	}
	if err := d.noRoom("purge", whileFailing); err != nil {
		return nil, err
	}
	if err := d.barrier(ctx, d.stallSig(whileFailing), whileFailing); err != nil {
		return nil, d.waitError("purge", err, false)
	}
	n := make([]int, len(states))
	var seqs []uint64
	d.fileMu.Lock()
	for seq, p := range d.places {
		if i := slices.Index(states, p.state()); i >= 0 {
			n[i]++
			seqs = append(seqs, seq)
		}
	}
	d.fileMu.Unlock()
	dead := slices.Index(states, Dead)
	// Dead letters held in memory (short of space) are not among places:
	// the writer finds them (purgeHeld).
	if len(seqs) == 0 && (dead < 0 || d.heldN.Load() == 0) {
		return n, nil
	}
	a := &adminOp{purge: seqs, history: slices.Contains(states, Delivered), dead: dead >= 0}
	done := make(chan struct{})
	if err := d.send(op{kind: opPurge, admin: a, committed: func(Event) { close(done) }}); err != nil {
		return nil, fmt.Errorf("spool: %s: purge: %w", d.cfg.Path, err)
	}
	if err := d.await(ctx, done, d.stallSig(whileFailing), whileFailing); err != nil {
		return nil, d.waitError("purge", err, true)
	}
	if dead >= 0 {
		n[dead] += a.held // set before done was closed
	}
	return n, nil
}
