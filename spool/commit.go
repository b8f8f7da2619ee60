package spool

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Run is the spool's only writer: it takes the queued appends, acks and
// dead letters in batches (in the order they were queued), writes each
// batch as frames at the end of the file with one write and one sync, then reports the appended events
// to their committed callbacks. It returns once ctx is done and every queued write is on disk,
// closing the file; the caller stops it only after all Append, Ack and Dead
// calls have returned. A write that fails for want of space is tried
// again until it succeeds (see writeBatch), or ctx is done or StopWaiting
// was called: then it is returned as a WriteError, as is any other failed
// write or sync, and later writes are refused: the agent must stop rather
// than acknowledge events it could not store.
func (d *Disk) Run(ctx context.Context) (err error) {
	defer d.markStopped()
	defer d.closeFile()
	defer d.removeUnused()      // while the file is still open and locked
	defer d.abandonCompaction() // before the file closes
	defer d.touch()             // the run's end, for the next one's LastRun
	// Again after restorePath: writing the file again (or its rescue
	// copy) finishes a compaction, which makes the reserve anew; it was
	// left behind, 256 KiB beside the file.
	defer d.releaseReserve()
	defer func() { // a file removed meanwhile is written again first
		if lost := d.restorePath(); lost != nil {
			err = errors.Join(err, lost) // both said: a write error hides no lost path
		}
	}()
	// The run's start, as its last sign of life so far: a crash before the
	// first heartbeat left the previous run's end there, and the next
	// start logged the window this run had logged already, its connected
	// time included (a new user's walk-through).
	d.touch()
	d.makeReserve()
	defer d.releaseReserve()
	// A file left mostly garbage (by an offline purge, which does not
	// compact) on a small volume is compacted now, before events come:
	// else the run starts without room for its reserve, and the first
	// backlog finds the disk full (a walk-through on a 4 MiB tmpfs).
	d.compactIfDue()
	var batch, carry []op
	beat := time.NewTicker(d.cfg.Heartbeat)
	defer beat.Stop()
	pace := time.NewTimer(0)
	defer pace.Stop()
	expiry := time.NewTimer(0)
	defer expiry.Stop()
	var last time.Time
	// Short of space, a batch may be carried back whole: held events
	// that do not fit (see short.go). Then nothing changes until something
	// new comes (an op, room from a compaction, the disk looked at again),
	// and committing the same batch every CommitInterval only burns CPU:
	// wait for it as when idle.
	stuck := false
	for {
		batch = append(batch[:0], carry...)
		if len(batch) == 0 || stuck {
			// Idle: wake when the oldest delivered record passes KeepAge,
			// so a quiet spool does not keep it (and its body) longer.
			var aged <-chan time.Time
			if at, ok := d.nextExpiry(); ok {
				expiry.Reset(time.Until(at))
				aged = expiry.C
			}
			// Short of space: look again each second for room to compact
			// and to leave that state (see short.go).
			var short <-chan time.Time
			if d.short {
				expiry.Reset(time.Second)
				short = expiry.C
			}
			select {
			case o := <-d.ops:
				batch = append(batch, o)
			case <-short:
				d.compactIfDue()
				// Stuck, the events held are carry, and need room too.
				d.endShort(heldNeed(carry))
				stuck = false // there may be room now
				continue
			case <-aged:
			case <-d.compactDone():
				d.compactIfDue()
				// The room it gave back (after a purge, say) ends the
				// state now, not at the next look a second later.
				d.endShort(heldNeed(carry))
				stuck = false
				continue
			case <-beat.C:
				d.touch() // idle: nothing else moves it on
				d.checkPath()
				d.pathChecked = time.Now()
				continue
			case <-ctx.Done():
				return d.flushWith(batch)
			}
		}
		// Under load, let a batch gather for CommitInterval: fewer syncs,
		// and nobody waits for them (delivery does not).
		if wait := d.cfg.CommitInterval - time.Since(last); wait > 0 && len(d.ops) < cap(d.ops)/2 {
			pace.Reset(wait)
			select {
			case <-pace.C:
			case <-ctx.Done():
				return d.flushWith(batch)
			}
		} else {
			select { // commits that outlast CommitInterval must still see a stop
			case <-ctx.Done():
				return d.flushWith(batch)
			default:
			}
		}
		last = time.Now()
		// Carried appends count against MaxBatch (fewer, larger batches
		// under load would hold more memory), but not while short of
		// space: held there, they would keep the queue from being read.
		from := 0
		if d.short {
			from = len(carry)
		}
		batch = d.purgeHeld(d.fill(batch, from))
		var err error
		if carry, err = d.commit(ctx, batch, true, carry[:0]); err != nil {
			return d.writeFailed(err, batch)
		}
		stuck = d.stuckShort(last, len(batch), carry)
		if last.Sub(d.pathChecked) >= d.cfg.Heartbeat { // busy: the beat is not seen
			d.checkPath()
			d.pathChecked = last
		}
		d.compactIfDue()
	}
}

// stuckShort reports whether commit carried back a batch of n whole
// (carry), short of space, for want of room: not only because some of
// its events were young, which are written (or found not to fit) once
// they are not. Young is judged as of began, when the commit began
// (before commit's own cutoff): judged after it, an event carried as young
// by a commit that took longer than CommitInterval looked old, the batch
// stuck, and the event waited for the next look at the disk, a second.
func (d *Disk) stuckShort(began time.Time, n int, carry []op) bool {
	if !d.short || len(carry) == 0 || len(carry) != n {
		return false
	}
	cutoff := began.Add(-d.cfg.CommitInterval)
	for i := range carry {
		if carry[i].kind == opAppend && carry[i].at.After(cutoff) {
			return false
		}
	}
	return true
}

// nextExpiry is when the oldest delivered record kept passes KeepAge and
// prune will forget it. Wakes are at least a thousandth of KeepAge (and a
// second) apart: after a day of steady traffic, a quiet spool forgets its
// history in 86-second steps, not with a sync every second.
func (d *Disk) nextExpiry() (time.Time, bool) {
	if d.delivered.len() == 0 {
		return time.Time{}, false
	}
	at := d.delivered.items[d.delivered.head].at.Add(d.cfg.KeepAge)
	return later(at, d.agedAt.Add(max(time.Second, d.cfg.KeepAge/1000))), true
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// maxBatchBytes bounds the event bytes of one commit, and of each batch
// an offline command writes, far below maxPayload whatever
// --max-frame-bytes allows: one more event (at most 64 MiB) may pass it.
const maxBatchBytes = 32 << 20

// fill adds whatever else is already queued, up to MaxBatch operations
// and about maxBatchBytes of events beyond the first from of batch (the
// carried ones, which must not keep the queue from being read).
func (d *Disk) fill(batch []op, from int) []op {
	size := 0
	for i := from; i < len(batch); i++ {
		size += batch[i].bodyBytes()
	}
	for len(batch)-from < d.cfg.MaxBatch && size < maxBatchBytes {
		select {
		case o := <-d.ops:
			batch = append(batch, o)
			size += o.bodyBytes()
		default:
			return batch
		}
	}
	return batch
}

// bodyBytes is the size of the event body o writes: a replay's is its
// record's (its ev carries none).
func (o *op) bodyBytes() int {
	if o.kind == opReplay && o.admin != nil && o.admin.rec != nil {
		return len(o.admin.rec.Body)
	}
	return len(o.ev.Body)
}

// flush commits what is left in the queue at shutdown.
func (d *Disk) flush() error { return d.flushWith(nil) }

// flushWith commits batch and then everything left in the queue. A purge
// of dead letters found there takes those held in memory as one found
// earlier does (purgeHeld): written at the stop, they were dead letters
// again at the next start, or, short of room, counted as events lost.
// The ops carried in batch do not count against MaxBatch, as in Run
// while short of space: more than MaxBatch of them kept the purge queued
// behind them out of the first commit, which wrote them.
func (d *Disk) flushWith(batch []op) error {
	from := len(batch)
	for {
		batch = d.purgeHeld(d.fill(batch, from))
		from = 0
		if len(batch) == 0 {
			return nil
		}
		if _, err := d.commit(noRetry, batch, false, nil); err != nil {
			return d.writeFailed(err, batch)
		}
		batch = batch[:0]
	}
}

// WriteError is why Run stopped: the spool file could not be written (a
// full disk, say). Unstored counts the events accepted (Append returned)
// that were neither on disk nor delivered then: lost, unless delivered
// while the agent stopped.
type WriteError struct {
	Err      error
	Unstored int
}

func (e *WriteError) Error() string {
	if e.Unstored == 0 {
		return e.Err.Error()
	}
	return fmt.Sprintf("%v (%d accepted events could not be stored: they are lost unless delivered before the agent stopped)", e.Err, e.Unstored)
}

func (e *WriteError) Unwrap() error { return e.Err }

// writeFailed is Run's error when a commit failed: it counts the appends
// of batch, and of whatever is still queued, that have no outcome. Writes
// are refused first, and an Append under way (it holds appendMu while it
// queues) is waited for, so none is queued after the count and lost
// uncounted.
func (d *Disk) writeFailed(err error, batch []op) error {
	d.markStopped()
	d.appendMu.Lock()
	defer d.appendMu.Unlock()
	batch = append(batch, d.drainOps()...)
	appended := make(map[uint64]bool)
	for _, o := range batch {
		switch o.kind {
		case opAppend, opReject, opDOA:
			// A frame refused on arrival is stored as a dead letter
			// straight away: unwritten, it is lost as an event is.
			appended[o.ev.Seq] = true
		case opAck:
			// Delivered: nothing is lost but its history. A dead
			// letter given up on before it was written is not
			// delivered: without its write it is lost, and counted.
			delete(appended, o.ev.Seq)
		}
	}
	return &WriteError{Err: err, Unstored: len(appended)}
}

// markStopped refuses later writes (see send); Run's end calls it too.
func (d *Disk) markStopped() { d.stopOnce.Do(func() { close(d.stopped) }) }

// drainOps takes whatever is queued for the committer now.
func (d *Disk) drainOps() []op {
	var ops []op
	for {
		select {
		case o := <-d.ops:
			ops = append(ops, o)
		default:
			return ops
		}
	}
}
