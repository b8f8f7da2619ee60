package spool

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"
)

// change is what a written frame does to places, applied once the batch
// is on disk.
type change struct {
	seq    uint64
	p      place
	forget bool
}

// commit writes one batch as frames with one write and one sync, then
// reports its appends as stored. A failed write is tried again while ctx
// lasts (see writeBatch). With carryYoung, appends younger than
// CommitInterval whose delivery has not ended yet are not written but
// returned (appended to carry) for the next batch: most events are
// delivered within that time and are then written once, straight as
// delivered.
func (d *Disk) commit(ctx context.Context, batch []op, carryYoung bool, carry []op) ([]op, error) {
	// An event delivered (or given up on) before its append was written
	// is written once, with its outcome.
	early := d.finishedEarly(batch)
	var carried, unkept map[uint64]bool
	firstCarried := uint64(0)
	cutoff := time.Now().Add(-d.cfg.CommitInterval) // one instant for the whole batch
	// The room for new events: the disk's free space but spaceMargin,
	// kept for outcomes, and room for a copy of the dead letters. Once one
	// does not fit, it and every later one are carried, in order, and the
	// spool is short of space.
	var room, limit int64
	var budgeted, over bool
	if carryYoung {
		free, ok := d.room()
		room, budgeted = free-spaceMargin, ok
		limit = room
		if d.short {
			// Short of space, a new event is written only if a copy of
			// the live frames, it included, still fits beside them:
			// writing into the room a compaction needs (the reserve
			// released, say) would leave the spool short for good as soon
			// as what stays live (dead letters, events not yet delivered)
			// outgrows the margin.
			room -= d.live + spaceMargin/4
		} else {
			// Otherwise only a copy of the dead letters needs room: they
			// stay live until purged or replayed, and a disk filled past
			// the room for their copy would stay short of space for good
			// once the events pending beside them are delivered (the
			// garbage those leave could never be compacted away). Pending
			// events need none: delivered, they become garbage.
			room -= d.dead
		}
	}
	for i := range batch {
		o := &batch[i]
		if o.kind == opReplay {
			d.taken = max(d.taken, o.ev.Seq)
		}
		if o.kind != opAppend {
			continue
		}
		d.taken = max(d.taken, o.ev.Seq)
		// Besides new events, the record of one delivered (kept in the
		// history) or given up on (a dead letter, kept with its body)
		// before its append was written takes room: unbudgeted, the
		// history's garbage filled a small volume, and dead letters
		// outgrew the room a compaction needs to copy them (a kill loop
		// on a 3 MiB tmpfs). A dead letter needs the room for its copy
		// too; a delivered event that does not fit is not kept.
		f := early[o.ev.Seq]
		deadEarly := f != nil && f.kind == opDead
		keptEarly := f != nil && !deadEarly && d.keep() >= 0
		young := o.at.After(cutoff)
		if carryYoung && budgeted && (f == nil && !young || deadEarly && !(d.short && young) || keptEarly) {
			need := int64(len(o.ev.Body) + len(o.ev.Key) + recordSlack)
			if d.short || deadEarly {
				need *= 2 // the room it takes, and the room its copy would take
			}
			if keptEarly && (over || need > room) {
				// Delivered: not kept, and nothing is carried or held
				// for it, so the events after it may still fit.
				if unkept == nil {
					unkept = make(map[uint64]bool)
				}
				unkept[o.ev.Seq] = true
			} else if over || need > room {
				over = true
			} else {
				room -= need
			}
		}
		// Carried: a new event that does not fit or is young (its
		// delivery may end before the next batch), and a dead letter that
		// does not fit (or, while short of space, is young: as a new one).
		if carryYoung && (f == nil || deadEarly) && (over || young && (f == nil || d.short)) {
			if carried == nil {
				carried = make(map[uint64]bool)
			}
			carried[o.ev.Seq] = true
			carry = append(carry, *o)
			if firstCarried == 0 || o.ev.Seq < firstCarried {
				firstCarried = o.ev.Seq
			}
		}
	}
	if over && !d.short {
		d.beginShort(nil)
	}
	var changes []change
	d.buf, _ = beginBatch(d.buf[:0])
	for i := range batch {
		o := &batch[i]
		switch o.kind {
		case opAppend:
			if carried[o.ev.Seq] {
				continue
			}
			if f, ok := early[o.ev.Seq]; ok {
				if !unkept[o.ev.Seq] {
					changes = d.writeFinished(changes, o, f)
				}
			} else {
				changes = d.writeRecord(changes, o, frameRecord, nil)
			}
		case opAck, opDead:
			if carried[o.ev.Seq] {
				carry = append(carry, *o) // a dead letter with no room yet: after its append
				continue
			}
			if d.tried != nil { // only Run writes it
				d.keepTried(o.ev.Seq, nil)
			}
			if _, ok := early[o.ev.Seq]; !ok {
				changes = d.writeOutcome(changes, o)
			}
		case opReject, opDOA:
			changes = d.writeRecord(changes, o, frameFinished, &outcome{State: Dead, Reason: o.reason, Finished: o.at})
		case opReplay:
			changes = d.writeReplay(changes, o)
		case opPurge:
			d.forgets = append(d.forgets, o.admin.purge...) // prune writes them below
			// Dead letters held in memory are written once the purge
			// makes room: if they keep the spool short in turn, say so
			// again (it was said once, and then the state lasted
			// silently until a second purge).
			d.deadWarned = false
			if o.admin.history {
				d.dropHistory(o.admin.purge)
			}
		case opTried, opPark:
			if carried[o.ev.Seq] {
				carry = append(carry, *o) // after its append, carried above
				continue
			}
			mark, n := len(d.buf), len(changes)
			changes = d.writeTried(changes, o)
			if d.short && budgeted && int64(len(d.buf)) > limit {
				// No room: kept in memory instead (see unsaved).
				d.buf, changes = d.buf[:mark], changes[:n]
				d.keepTried(o.ev.Seq, o.attempts)
			} else if len(changes) > n && d.tried != nil {
				d.keepTried(o.ev.Seq, nil)
			}
		}
	}
	changes = d.prune(changes)
	if len(d.buf) > batchHeader {
		if n := len(d.buf) - batchHeader; n > maxPayload { // fill keeps it far below; never written, as a start would cut it off
			return carry, fmt.Errorf("spool: %s: a batch of %d bytes, more than the %d a batch may hold", d.cfg.Path, n, maxPayload)
		}
		sealBatch(d.buf, 0)
		if err := d.writeBatch(ctx, len(batch)); err != nil {
			return carry, err
		}
		if err := datasync(d.f); err != nil {
			return carry, fmt.Errorf("spool: %s: sync: %w", d.cfg.Path, err)
		}
		if d.dirUnsynced {
			// A compaction's rename is not known to be on disk: a crash
			// could bring back the file as it was, without this batch.
			if err := d.syncFolder(); err != nil {
				return carry, fmt.Errorf("spool: %s: sync the folder after a compaction (a crash could bring back the file without what was stored since): %w", d.cfg.Path, err)
			}
			d.dirUnsynced = false
		}
		d.end += int64(len(d.buf))
	}
	d.apply(changes)
	// Every append taken so far is on disk now, but the carried ones.
	durable := d.taken
	if firstCarried != 0 {
		durable = firstCarried - 1
	}
	d.markDurable(durable)
	if carryYoung { // before the callbacks: a command waiting on one sees the spool as it is now
		if need := d.hold(carry); d.short {
			d.endShort(need)
		}
	}
	for i := range batch {
		o := &batch[i]
		if (o.kind == opAppend || o.kind == opReplay || o.kind == opBarrier || o.kind == opPurge) && o.committed != nil && !carried[o.ev.Seq] {
			o.committed(o.ev)
		}
		if o.kind == opPark && !carried[o.ev.Seq] {
			d.idx.park(entry{seq: o.ev.Seq, key: o.ev.Key}, *o.park) // its attempts are on disk for Next
		}
		batch[i] = op{} // drop the body reference
	}
	return carry, nil
}

// finishedEarly maps the seq of each append in batch to the ack or dead op
// that follows it in the same batch.
func (d *Disk) finishedEarly(batch []op) map[uint64]*op {
	var appended, early map[uint64]*op
	for i := range batch {
		o := &batch[i]
		switch o.kind {
		case opAppend:
			if appended == nil {
				appended = make(map[uint64]*op)
			}
			appended[o.ev.Seq] = o
		case opAck, opDead:
			if appended[o.ev.Seq] != nil {
				if early == nil {
					early = make(map[uint64]*op)
				}
				early[o.ev.Seq] = o
			}
		}
	}
	return early
}

// writeRecord encodes o's event as a frame of kind, with out when the
// record is finished at once.
func (d *Disk) writeRecord(changes []change, o *op, kind byte, out *outcome) []change {
	var at int
	d.buf, at = beginFrame(d.buf, kind)
	r := Record{Event: o.ev, Rejected: o.kind == opReject, NonEvent: o.kind == opDOA}
	d.buf = appendRecord(d.buf, &r, 0)
	state := Pending
	if out != nil {
		d.buf = appendOutcome(d.buf, out)
		state = out.State
		if state == Delivered {
			d.delivered.push(finishedAt{o.ev.Seq, out.Finished})
		}
	}
	endFrame(d.buf, at)
	return append(changes, change{seq: o.ev.Seq, p: newPlace(d.spanOf(at), state)})
}

// writeReplay encodes a replayed record, pending again under its new seq,
// as replacing its old one, which is forgotten.
func (d *Disk) writeReplay(changes []change, o *op) []change {
	a := o.admin
	if p, ok := d.places[a.replaces]; ok && p.state() == Delivered {
		d.dropHistory([]uint64{a.replaces}) // no longer counts toward KeepCount
	}
	var at int
	d.buf, at = beginFrame(d.buf, frameRecord)
	d.buf = appendRecord(d.buf, a.rec, a.replaces)
	endFrame(d.buf, at)
	return append(changes, change{seq: a.rec.Seq, p: newPlace(d.spanOf(at), Pending)}, change{seq: a.replaces, forget: true})
}

// writeFinished encodes an event delivered (or given up on, f) before its
// append o was written: one frame with its outcome, or none at all when
// no delivered history is kept.
func (d *Disk) writeFinished(changes []change, o, f *op) []change {
	out := outcome{State: Delivered, Attempts: f.attempts, Reason: f.reason, Finished: f.at}
	if f.kind == opDead {
		out.State = Dead
	} else if d.keep() < 0 {
		return changes
	}
	return d.writeRecord(changes, o, frameFinished, &out)
}

// writeOutcome encodes the outcome of a record written before; a record
// no longer pending (acknowledged twice) is left alone.
func (d *Disk) writeOutcome(changes []change, o *op) []change {
	p, ok := d.places[o.ev.Seq]
	if !ok || p.state() != Pending {
		return changes
	}
	out := outcome{State: Delivered, Attempts: o.attempts, Reason: o.reason, Finished: o.at}
	if o.kind == opDead {
		out.State = Dead
	} else if d.keep() < 0 {
		d.forgets = append(d.forgets, o.ev.Seq)
		return changes
	}
	var at int
	d.buf, at = beginFrame(d.buf, frameOutcome)
	d.buf = binary.AppendUvarint(d.buf, o.ev.Seq)
	d.buf = appendOutcome(d.buf, &out)
	endFrame(d.buf, at)
	if out.State == Delivered {
		d.delivered.push(finishedAt{o.ev.Seq, out.Finished})
	}
	p.finish(d.spanOf(at), out.State)
	return append(changes, change{seq: o.ev.Seq, p: p})
}

// writeTried encodes the attempts made so far on a pending record written
// before or earlier in this batch (one whose append is carried is carried
// with it); its previous frameTried becomes garbage.
func (d *Disk) writeTried(changes []change, o *op) []change {
	p, ok := d.places[o.ev.Seq]
	for i := len(changes) - 1; i >= 0; i-- { // rare: a linear search is fine
		if c := changes[i]; c.seq == o.ev.Seq {
			p, ok = c.p, !c.forget
			break
		}
	}
	if !ok || p.state() != Pending {
		return changes
	}
	var at int
	d.buf, at = beginFrame(d.buf, frameTried)
	d.buf = binary.AppendUvarint(d.buf, o.ev.Seq)
	d.buf = appendAttempts(d.buf, o.attempts)
	endFrame(d.buf, at)
	s := d.spanOf(at)
	p.outOff, p.outN = s.off, s.n
	return append(changes, change{seq: o.ev.Seq, p: p})
}

// prune forgets the oldest delivered records beyond KeepCount and (checked
// at most once a second) those older than KeepAge, then encodes one frame
// with every record the batch forgets.
func (d *Disk) prune(changes []change) []change {
	excess := d.delivered.len() - max(d.keep(), 0)
	if d.delivered.len() > 0 && time.Since(d.agedAt) >= time.Second {
		d.agedAt = time.Now()
		cutoff := d.agedAt.Add(-d.cfg.KeepAge)
		for i := max(excess, 0); i < d.delivered.len() && d.delivered.items[d.delivered.head+i].at.Before(cutoff); i++ {
			excess = i + 1
		}
	}
	for ; excess > 0; excess-- {
		d.forgets = append(d.forgets, d.delivered.pop().seq)
	}
	if len(d.forgets) == 0 {
		return changes
	}
	var at int
	d.buf, at = beginFrame(d.buf, frameForget)
	d.buf = binary.AppendUvarint(d.buf, uint64(len(d.forgets)))
	for _, seq := range d.forgets {
		d.buf = binary.AppendUvarint(d.buf, seq)
		changes = append(changes, change{seq: seq, forget: true})
	}
	endFrame(d.buf, at)
	d.forgets = d.forgets[:0]
	return changes
}

// dropHistory takes the purged records out of the delivered history, so
// that it counts only those kept.
func (d *Disk) dropHistory(purged []uint64) {
	gone := make(map[uint64]bool, len(purged))
	for _, seq := range purged {
		gone[seq] = true
	}
	var kept fifo[finishedAt]
	for d.delivered.len() > 0 {
		if fa := d.delivered.pop(); !gone[fa.seq] {
			kept.push(fa)
		}
	}
	d.delivered = kept
}

// spanOf is where the frame begun at buffer index at lands in the file.
func (d *Disk) spanOf(at int) span {
	return span{off: d.end + int64(at), n: int32(len(d.buf) - at)}
}

// apply makes a written batch's changes visible to Next and keeps the
// count of live bytes.
func (d *Disk) apply(changes []change) {
	d.fileMu.Lock()
	defer d.fileMu.Unlock()
	d.readEnd = d.end
	for _, c := range changes {
		if was, ok := d.places[c.seq]; ok {
			d.live -= was.size()
			if was.state() == Dead {
				d.dead -= was.size()
				d.letters.Add(-1)
			}
		}
		if c.forget {
			delete(d.places, c.seq)
			continue
		}
		d.places[c.seq] = c.p
		d.live += c.p.size()
		if c.p.state() == Dead {
			d.dead += c.p.size()
			d.letters.Add(1)
		}
	}
}

// closeFile closes the spool file, letting go of its lock.
func (d *Disk) closeFile() {
	d.fileMu.Lock()
	defer d.fileMu.Unlock()
	d.f.Close()
	d.closing.Wait()    // a file a compaction replaced
	if d.removeClosed { // see removeUnused
		d.removeFile()
	}
}
