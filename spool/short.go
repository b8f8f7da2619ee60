package spool

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// When the spool's own backlog fills its volume (the handler down long
// enough), waiting for space would wait forever: every outcome must be
// written before anything can shrink, and there is no room for it. So the
// spool goes short of space instead (Disk.short): new events wait in
// memory, in arrival order, and are written only as far as the disk has
// room (less spaceMargin, kept for outcomes); outcomes are written ahead
// of them; events are handed out from memory meanwhile; the delivered
// history is given up, so that each delivery makes its record garbage;
// attempts that do not fit stay in memory; and once the disk has room for
// a copy of the live frames, a compaction shrinks the file. The held
// events are then written, in order, and the spool leaves the state once
// the disk has room for those it holds, the reserve (made again) and more.
// Where the free space is unknown (NetBSD and systems other than Linux,
// macOS, FreeBSD, DragonFly, OpenBSD and Windows), or is not what limits the
// file (a quota, a file size limit), a failed write waits as space.go
// says.

// reserveSuffix names the file of zeros a running spool keeps beside its
// file (see makeReserve), removed as Run ends.
const reserveSuffix = ".reserve"

// reserveBytes is the size of the reserve: room released when a write
// fails for want of space, for the batch that failed (encoded already)
// and the outcomes after it. spaceMargin is the room left free, while
// short of space, for outcomes: new events are written only beyond it.
const (
	reserveBytes = 256 << 10
	spaceMargin  = 64 << 10
)

// maxHeld is the most new events held in memory while short of space;
// Append waits beyond it, and with it reading the websocket, as a full
// write queue makes it wait.
const maxHeld = 1024

// recordSlack bounds the bytes a record frame takes beside its body and
// key (header, seq, id, type, times, …), for the room a held event needs.
const recordSlack = 512

// zeros is what the reserve is written with, a block at a time: never
// written to, it takes no memory of its own.
var zeros [64 << 10]byte

// makeReserve writes the reserve beside the spool file, synced; without
// room for it the spool works on without one.
func (d *Disk) makeReserve() {
	if d.reserved {
		return
	}
	path := d.cfg.Path + reserveSuffix
	// One left by a run that was killed is removed, and the new one made
	// exclusively: never written through a file or a symbolic link another
	// user put at that name (a spool in a shared folder).
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return
	}
	for off := int64(0); off < reserveBytes && err == nil; off += int64(len(zeros)) {
		_, err = f.WriteAt(zeros[:], off)
	}
	if err == nil {
		err = datasync(f)
	}
	f.Close()
	if err != nil {
		os.Remove(path)
		return
	}
	d.reserved = true
}

// releaseReserve removes the reserve, if made, and reports whether it was.
func (d *Disk) releaseReserve() bool {
	if !d.reserved {
		return false
	}
	d.reserved = false
	return os.Remove(d.cfg.Path+reserveSuffix) == nil
}

// beginShort puts the spool short of space (err: the failed write, or nil
// when the disk was seen to lack room for a batch's new events) and
// reports whether the reserve was released, so that a failed write may be
// tried again at once.
func (d *Disk) beginShort(err error) bool {
	d.short = true
	now := time.Now()
	d.pausedAt.Store(now.UnixNano())
	d.pauseMu.Lock()
	close(d.pauseSig)
	d.pauseMu.Unlock()
	// The free space is looked at before the reserve is released: a write
	// that failed with more room than it needed beside it was refused by a
	// limit the disk's free space does not show. (Looked at after, it was
	// the reserve's room, and a batch larger than that, a replay's say,
	// was blamed on a quota.)
	free, known := d.room()
	released := d.releaseReserve()
	dir := filepath.Dir(d.cfg.Path)
	args := []any{"spool", d.cfg.Path, "file_bytes", d.end, "live_bytes", d.live, "free_bytes", free, "reserve_released", released}
	if err != nil {
		args = append(args, "error", err)
	}
	if err != nil && (!known || free >= int64(len(d.buf))+spaceMargin) {
		// Not the disk's free space (a quota, a file size limit), or
		// none to read here: nothing makes room by itself.
		d.cfg.Logger.Warn("spool: a write failed for want of space that the disk's free space does not show (a quota or a file size limit?) or that cannot be read here: new events wait in memory, in order, and are delivered from there, the delivered history is given up; free space or raise the limit to go on", args...)
		return released
	}
	d.cfg.Logger.Warn("spool: the disk is short of space: new events wait in memory, in order, and are delivered from there; deliveries are recorded first, the delivered history is given up, and the file is compacted as soon as there is room", args...)
	if used, ok := diskUsed(dir); ok && d.end > used/2 && !d.deadStuck(free) {
		d.cfg.Logger.Warn("spool: the spool's own file takes most of the used space on its disk: its backlog (the handler down or slow) filled it. It makes room by itself as events are delivered; nothing needs freeing by hand",
			"spool", d.cfg.Path, "file_bytes", d.end, "disk_used_bytes", used)
	}
	return released
}

// endShort leaves the short of space state once the disk has room for
// the new events held (held bytes, see hold), the reserve, made again
// first, and some more (3 × spaceMargin beyond the margin commit keeps),
// so that it is not entered again at once.
func (d *Disk) endShort(held int64) {
	free, ok := d.room()
	// A compaction under way holds space with its copy, and gives back
	// the file's garbage as it finishes: the free space seen meanwhile
	// does not tell whether the dead letters keep the spool short (it
	// said so, and then left the state by itself 20 ms later).
	if d.short && ok && d.compacting == nil {
		d.warnDeadStuck(free)
	}
	// Room for the dead letters' copy too, which commit keeps free (see
	// there): else the state would be entered again at the next batch,
	// once per compaction (it was, with dead letters of more than
	// 3 × spaceMargin, when the copy counted against the slack).
	if !d.short || (ok && free < held+reserveBytes+4*spaceMargin+d.dead) {
		return
	}
	// A compaction due, or under way, comes first: once the spool leaves
	// the state, its garbage waits for CompactAfter again.
	if garbage := d.garbage(); d.compacting != nil || d.compactShort(garbage) {
		return
	}
	d.makeReserve()
	d.freeLooked = false // the reserve took room the last look saw: look again
	d.short, d.deadWarned = false, false
	d.compactAfter = d.cfg.CompactAfter
	d.pauseMu.Lock()
	d.pauseSig = make(chan struct{})
	d.pauseMu.Unlock()
	d.cfg.Logger.Warn("spool: writing again: the events held in memory are stored",
		"spool", d.cfg.Path, "after", time.Since(time.Unix(0, d.pausedAt.Load())).Round(time.Millisecond).String())
	d.pausedAt.Store(0)
}

// keep is the delivered history's size: none while short of space.
func (d *Disk) keep() int {
	if d.short {
		return -1
	}
	return d.cfg.KeepCount
}

// compactShort starts a compaction while short of space, once the disk
// has room for a copy of the live frames (and a quarter of spaceMargin
// for what is written meanwhile) and the garbage is worth it.
// One that failed (the writes meanwhile took the room) is tried again a
// second later.
func (d *Disk) compactShort(garbage int64) bool {
	if !d.short || garbage < spaceMargin || time.Since(d.compactFailed) < time.Second {
		return false
	}
	free, ok := d.room()
	return ok && free >= d.live+spaceMargin/4
}

// deadStuck reports whether the dead letters alone keep the spool short
// of space, however much of the rest is delivered: the disk (free bytes
// now, which only a compaction adds to while short of space) has no room
// for the copy of them a compaction makes (compactShort), or, with
// everything else compacted away, would still lack the room endShort asks
// for that copy, the reserve and the margin. Only purging them, or
// freeing space, ends the state then; endShort says so, once.
func (d *Disk) deadStuck(free int64) bool {
	return d.dead > 0 && (free < d.dead+spaceMargin/4 || free+d.end-d.dead < reserveBytes+4*spaceMargin+d.dead)
}

// warnDeadStuck says, once while short of space, that only the user can
// end the state (see deadStuck).
func (d *Disk) warnDeadStuck(free int64) {
	if d.deadWarned || !d.deadStuck(free) {
		return
	}
	d.deadWarned = true
	d.cfg.Logger.Warn("spool: short of space until dead letters are purged or space is freed: delivering what is pending will not make room, as the dead letters stay in the file and the disk has no room for the copy of them a compaction makes. Meanwhile new events wait in memory (reading the websocket pauses once they are many), and a crash loses them. See the dead letters with `events list --dead`; `events purge --dead` acts on the running listen and makes room at once",
		"spool", d.cfg.Path, "dead_bytes", d.dead, "file_bytes", d.end, "free_bytes", free)
}

// hold makes the new events of carry, not written yet, available to Next
// from memory while short of space (each with the attempts carried with
// it), and wakes Next and Append waiting on them. It returns the bytes
// they need on disk.
func (d *Disk) hold(carry []op) int64 {
	var held map[uint64]Event
	need := heldNeed(carry)
	for i := range carry {
		o := &carry[i]
		switch o.kind {
		case opAppend:
			if d.short {
				if held == nil {
					held = make(map[uint64]Event)
				}
				held[o.ev.Seq] = o.ev
			}
		case opTried, opPark:
			if ev, ok := held[o.ev.Seq]; ok {
				ev.Tried = o.attempts
				held[o.ev.Seq] = ev
			}
		}
	}
	d.durableMu.Lock()
	defer d.durableMu.Unlock()
	if len(held) == 0 && len(d.held) == 0 {
		return need
	}
	d.held = held
	d.heldN.Store(int32(len(held)))
	close(d.synced)
	d.synced = make(chan struct{})
	return need
}

// heldNeed is the bytes the new events of carry need on disk.
func heldNeed(carry []op) int64 {
	var need int64
	for i := range carry {
		if o := &carry[i]; o.kind == opAppend {
			need += int64(len(o.ev.Body) + len(o.ev.Key) + recordSlack)
		}
	}
	return need
}

// waitRoom blocks Append while maxHeld new events are held in memory.
func (d *Disk) waitRoom() error {
	for {
		if d.heldN.Load() < maxHeld { // the usual case, with no lock taken
			return nil
		}
		d.durableMu.Lock()
		full, synced := len(d.held) >= maxHeld, d.synced
		d.durableMu.Unlock()
		if !full {
			return nil
		}
		select {
		case <-synced:
		case <-d.stopped:
			return ErrClosed
		case <-d.giveUp:
			return ErrClosed
		}
	}
}

// roomLow is the free space below which room looks at the disk before
// every commit.
const roomLow = spaceCheckBytes + spaceMargin

// room is the disk's free space. It is looked at while the spool is short
// of space or the disk has less than roomLow left, else once the file grew
// by spaceCheckBytes since the last look; in between it is what was free
// then less what the file grew since.
func (d *Disk) room() (int64, bool) {
	grown := d.end - d.freeAt
	if d.freeLooked && !d.short && grown >= 0 && grown < spaceCheckBytes && (!d.freeOK || d.freeSeen-grown >= roomLow) {
		return d.freeSeen - grown, d.freeOK
	}
	d.freeLooked, d.freeAt = true, d.end
	d.freeSeen, d.freeOK = d.cfg.diskFree(filepath.Dir(d.cfg.Path))
	return d.freeSeen, d.freeOK
}

// keepTried keeps the attempts on pending event seq that a short of space
// spool did not write (nil: those written now replace them), for Next to
// hand out with it: a failing handler's retries, recorded every time,
// would otherwise fill what room is left. A crash loses them, as it loses
// the events held in memory: the delivery goes on from the attempts last
// written.
func (d *Disk) keepTried(seq uint64, attempts []Attempt) {
	d.durableMu.Lock()
	defer d.durableMu.Unlock()
	if attempts == nil {
		delete(d.tried, seq)
		return
	}
	if d.tried == nil {
		d.tried = make(map[uint64][]Attempt)
	}
	d.tried[seq] = attempts
}

// unsaved returns the attempts on seq kept in memory, if any.
func (d *Disk) unsaved(seq uint64) ([]Attempt, bool) {
	d.durableMu.Lock()
	defer d.durableMu.Unlock()
	a, ok := d.tried[seq]
	return a, ok
}

// purgeHeld takes out of batch, for a purge of dead letters in it, the
// dead letters held in memory for want of room: each an append carried
// with its dead outcome, both queued before the purge. They are dead
// letters as much as those written, and `events list` cannot show them;
// left to be written once the purge made room, they filled it again,
// and the spool stayed short of space until a second purge, or a third
// (a walk-through on a 4 MiB tmpfs). Each one taken out counts as
// stored (its committed call, which it had not had) and then purged
// (the purge's held).
func (d *Disk) purgeHeld(batch []op) []op {
	isPurge := func(o op) bool { return o.kind == opPurge && o.admin.dead }
	// Each purge of the batch in turn (two commands at once, say): a later
	// one takes the dead letters given up on between the two.
	for at := slices.IndexFunc(batch, isPurge); at >= 0; {
		batch, at = d.purgeHeldBefore(batch, at)
		next := slices.IndexFunc(batch[at+1:], isPurge)
		if next < 0 {
			break
		}
		at += 1 + next
	}
	return batch
}

// purgeHeldBefore takes out of batch the dead letters held before the
// purge at index at (see purgeHeld), and returns the batch and the
// purge's index in it.
func (d *Disk) purgeHeldBefore(batch []op, at int) ([]op, int) {
	var gone map[uint64]bool
	for seq, f := range d.finishedEarly(batch[:at]) {
		if f.kind == opDead {
			if gone == nil {
				gone = make(map[uint64]bool)
			}
			gone[seq] = true
		}
	}
	if len(gone) == 0 {
		return batch, at
	}
	batch[at].admin.held = len(gone)
	kept := batch[:0]
	purge := at
	for i, o := range batch {
		if i < at && gone[o.ev.Seq] && (o.kind == opAppend || o.kind == opDead || o.kind == opTried || o.kind == opPark) {
			if o.kind == opAppend {
				d.taken = max(d.taken, o.ev.Seq) // not a gap Next could wait on
				if o.committed != nil {
					o.committed(o.ev)
				}
			}
			if d.tried != nil {
				d.keepTried(o.ev.Seq, nil)
			}
			continue
		}
		if i == at {
			purge = len(kept)
		}
		kept = append(kept, o)
	}
	clear(batch[len(kept):]) // drop the body references
	return kept, purge
}
