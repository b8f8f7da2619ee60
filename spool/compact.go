package spool

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// compactChunk is about the most a compaction reads at once and writes in
// one batch.
const compactChunk = 1 << 20

// compactSuffix names the file a compaction writes before renaming it
// over the spool file; one left by a crash is removed at the next start.
const compactSuffix = ".compact"

// A compaction rewrites the spool file with its live frames only, in their
// order, and renames the new file over the old one: the garbage (frames
// that later ones superseded) is gone. It runs beside the writes, so that
// arrivals do not wait for it: its goroutine copies the frames that were
// live when it began, all below the file's end then (from), which no
// write changes; Run meanwhile goes on appending batches after from. Once
// the copy is done, Run adds those batches to the new file as they are
// (frames name events by seq, never by offset), moves every live frame's
// place to the new file, and swaps the files. Only that last step, whose
// length is what was written during the copy, holds up Run's writes.

// compaction is one under way. Its goroutine owns tmp, frames and end
// until done is closed; then they are Run's.
type compaction struct {
	from   int64       // the file's end when it began
	frames []liveFrame // the frames live then, sorted by their offset
	tmp    *os.File
	end    int64 // the end of tmp once the copy is done
	err    error // why the copy failed
	done   chan struct{}
	cancel context.CancelFunc
	// restore: the spool's path was found empty (checkPath), and the new
	// file takes it only while it still is: a file made there meanwhile
	// (another agent's) is not replaced.
	restore bool
	// rescue, when set, is where the new file goes instead of the
	// spool's path, which names another file (see restorePath); it must
	// not exist.
	rescue string
}

// liveFrame is one live frame of a record: where it is, and where the
// copy put it.
type liveFrame struct {
	s     span
	moved int64
}

// startCompaction begins a compaction of what the file holds now. Its
// goroutine ends once the copy is done or Run abandons it (stopping).
func (d *Disk) startCompaction() error {
	tmpPath := d.cfg.Path + compactSuffix
	// Exclusive: one left by a crash is removed at open, so one there now
	// is another process's under way (a second agent on this path, after
	// the file was removed), not to be cut short.
	tmp, err := os.OpenFile(tmpPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	// The copy takes the owner and group of the file it replaces, as a
	// salvage's does: a listen of root's on a spool handed to a service's
	// user meanwhile (chown -R of its folder) would otherwise give it back
	// to root, and that user's listen would refuse it (checkOwner).
	if err := keepFileOwner(tmp, d.f); err != nil {
		tmp.Close()
		os.Remove(tmpPath)
		return fmt.Errorf("give the copy the spool file's owner: %w", unwrapPath(err))
	}
	frames := make([]liveFrame, 0, len(d.places))
	for _, p := range d.places {
		frames = append(frames, liveFrame{s: p.rec()})
		if p.outN > 0 {
			frames = append(frames, liveFrame{s: p.out()})
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &compaction{from: d.end, frames: frames, tmp: tmp, done: make(chan struct{}), cancel: cancel}
	d.compacting = c
	f, gate := d.f, d.cfg.compactGate // d.f stays until Run finishes or drops c
	go func() {
		defer close(c.done)
		c.end, c.err = copyLive(ctx, f, c.tmp, c.frames, gate)
	}()
	return nil
}

// compactDone is closed once the compaction under way has copied what it
// began with; nil (never ready) when none is under way.
func (d *Disk) compactDone() <-chan struct{} {
	if d.compacting == nil {
		return nil
	}
	return d.compacting.done
}

// compactIfDue starts a compaction when the garbage passes compactAfter
// and outweighs the live frames, or finishes the one under way once its
// copy is done. It runs on Run's goroutine, after a commit or when Run
// has nothing else to do.
func (d *Disk) compactIfDue() {
	if c := d.compacting; c != nil {
		select {
		case <-c.done:
		default:
			return // still copying
		}
		err := c.err
		if err == nil {
			err = d.finishCompaction(c)
		}
		d.compacting = nil
		if err != nil {
			d.dropCompaction(c)
			// The spool works on without it; try again once the garbage
			// has doubled.
			d.compactAfter = 2 * d.garbage()
			d.compactFailed = time.Now()
			d.cfg.Logger.Warn("spool: compaction failed; the file keeps its garbage for now", "spool", d.cfg.Path, "error", err)
			return
		}
		d.compactAfter = d.cfg.CompactAfter
		if !d.short {
			// A run that started without room for its reserve (a disk
			// filled by the file's garbage) makes it now: without it, a
			// burst of outcomes on a full disk has nowhere to go.
			d.makeReserve()
		}
		return
	}
	if d.pathTaken {
		return // it would not take the path (see checkPath)
	}
	if garbage := d.garbage(); garbage > d.live && garbage >= d.compactAfter || d.diskLow(garbage) || d.compactShort(garbage) {
		if err := d.startCompaction(); err != nil {
			d.compactAfter = 2 * garbage
			d.cfg.Logger.Warn("spool: compaction failed; the file keeps its garbage for now", "spool", d.cfg.Path, "error", err)
		}
	}
}

// spaceCompactMin is the least garbage compacted early, on a disk with
// less room left than that; the disk's free space is looked at each time
// the file grew by spaceCheckBytes.
const (
	spaceCompactMin = 1 << 20
	spaceCheckBytes = 256 << 10
)

// diskLow reports whether the disk has less room left than the file's
// garbage, of spaceCompactMin or more, and its live frames: on a volume
// smaller than CompactAfter, the garbage would otherwise fill it, and a
// full disk has no room for the compaction that would free it. The copy
// needs room for the live frames, so it starts while it still fits, even
// when the garbage does not outweigh them (it waited for that, and for
// less room than the garbage alone: with many live frames, by then the
// copy could not fit, and the disk filled for good). Nor when the copy
// cannot fit: it would only fill the disk. Not after a failed compaction
// (it waits for the garbage to double).
func (d *Disk) diskLow(garbage int64) bool {
	if garbage < spaceCompactMin || d.compactAfter != d.cfg.CompactAfter {
		return false
	}
	free, ok := d.room()
	return ok && free < garbage+d.live && free > d.live
}

// garbage is the bytes of superseded frames in the file.
func (d *Disk) garbage() int64 { return d.end - int64(len(fileHeader)) - d.live }

// finishCompaction adds what was written since the compaction began to
// its file, syncs it, moves every live frame's place there, and renames
// the new file over the spool. The new file is locked before it takes the
// path, so no other process gets in between. Next may read the old file
// meanwhile; its reads of the closed old file are tried again.
func (d *Disk) finishCompaction(c *compaction) error {
	if _, err := io.CopyBuffer(c.tmp, io.NewSectionReader(d.f, c.from, d.end-c.from), make([]byte, compactChunk)); err != nil {
		return err
	}
	if err := datasync(c.tmp); err != nil {
		return err
	}
	places, err := c.moved(d.places)
	if err != nil {
		return err
	}
	if err := lockFile(c.tmp, time.Now()); err != nil {
		return err
	}
	if err := c.takePath(d.cfg.Path, d.f); err != nil {
		return err
	}
	// Renamed: the new file is the spool from here on, even if the
	// folder's sync fails (then the rename may not survive a crash, and
	// the old file, whole, would be found instead).
	dirErr := d.syncFolder()
	end := c.end + d.end - c.from
	d.fileMu.Lock()
	old := d.f
	d.f, d.places, d.readEnd = c.tmp, places, end
	d.fileMu.Unlock()
	d.end = end
	// The old file's blocks are freed as it closes, unlinked by the
	// rename: tens of milliseconds for a large file, which arrivals need
	// not wait for. Run waits for it before it returns.
	d.closing.Add(1)
	go func() {
		defer d.closing.Done()
		old.Close()
	}()
	if dirErr != nil {
		// Nothing stored since is reported as such before the folder is
		// synced: the next commit tries again, and stops the spool (as a
		// failed sync does) if that fails too.
		d.dirUnsynced = true
		d.cfg.Logger.Warn("spool: compacted, but the folder could not be synced: a crash now may bring back the file as it was before the compaction; the next write syncs it first, and stops listen if it cannot", "spool", d.cfg.Path, "error", dirErr)
	}
	return nil
}

// takePath puts the new file at path, in place of open: renamed over it,
// or, when nothing is at path (the file was removed: restore), linked
// there, which fails if a file was made there meanwhile, and its own name
// removed. A path that names another file than open is left as it is:
// errPathTaken.
func (c *compaction) takePath(path string, open *os.File) error {
	if c.rescue != "" {
		path, c.restore = c.rescue, true
		if err := os.Link(c.tmp.Name(), path); err != nil {
			return err
		}
		return os.Remove(c.tmp.Name())
	}
	was, err := open.Stat()
	if err != nil {
		return err
	}
	at, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.restore = true
	case err != nil:
		return err
	case !os.SameFile(at, was):
		return errPathTaken
	}
	if !c.restore {
		return os.Rename(c.tmp.Name(), path)
	}
	if err := os.Link(c.tmp.Name(), path); err != nil {
		return err
	}
	return os.Remove(c.tmp.Name())
}

// errPathTaken is takePath's error when the spool's path names another
// file than the one the agent writes.
var errPathTaken = errors.New("the spool's path names another file now: not replaced")

// syncFolder syncs the spool's folder, where a compaction renamed its file.
func (d *Disk) syncFolder() error {
	return d.syncDirFunc()(filepath.Dir(d.cfg.Path))
}

// syncDirFunc is what syncs a folder: syncDir, or the tests' own.
func (d *Disk) syncDirFunc() func(string) error {
	if d.cfg.syncDir != nil {
		return d.cfg.syncDir
	}
	return syncDir
}

// moved returns places with every frame moved to where the compaction put
// it: frames below from to where the copy wrote them (each was live when
// it began, as a frame once superseded never comes back), those after it
// by the length the copy saved.
func (c *compaction) moved(places map[uint64]place) (map[uint64]place, error) {
	shift := c.end - c.from
	move := func(s span) (int64, error) {
		if s.off >= c.from {
			return s.off + shift, nil
		}
		i, found := slices.BinarySearchFunc(c.frames, s.off, func(f liveFrame, off int64) int { return cmp.Compare(f.s.off, off) })
		if !found || c.frames[i].s.n != s.n {
			return 0, fmt.Errorf("compaction: the frame at offset %d was not copied", s.off)
		}
		return c.frames[i].moved, nil
	}
	out := make(map[uint64]place, len(places))
	for seq, p := range places {
		var err error
		if p.recOff, err = move(p.rec()); err != nil {
			return nil, err
		}
		if p.outN > 0 {
			if p.outOff, err = move(p.out()); err != nil {
				return nil, err
			}
		}
		out[seq] = p
	}
	return out, nil
}

// dropCompaction abandons c: its goroutine is stopped and waited for, and
// its file removed.
func (d *Disk) dropCompaction(c *compaction) {
	c.cancel()
	<-c.done
	c.tmp.Close()
	os.Remove(c.tmp.Name())
}

// abandonCompaction drops the compaction under way, if any (Run is
// stopping).
func (d *Disk) abandonCompaction() {
	if c := d.compacting; c != nil {
		d.compacting = nil
		d.dropCompaction(c)
	}
}

// errCompactionStopped ends a copy abandoned by Run.
var errCompactionStopped = errors.New("compaction stopped")

// copyLive sorts frames by offset, writes the header and each frame of f
// to tmp, in that order, syncs it and returns the end of tmp; each frame's
// moved is where it landed. Frames next to each other are read with one
// read, up to compactChunk, and written in batches of about that size.
// gate, when not nil (tests), holds the copy once it is synced, before it
// reports done: from a send on gate until a receive.
func copyLive(ctx context.Context, f, tmp *os.File, frames []liveFrame, gate chan struct{}) (int64, error) {
	slices.SortFunc(frames, func(a, b liveFrame) int { return cmp.Compare(a.s.off, b.s.off) })
	if _, err := tmp.Write(fileHeader); err != nil {
		return 0, err
	}
	off := int64(len(fileHeader)) // where buf goes
	buf, _ := beginBatch(nil)
	flush := func() error {
		if len(buf) == batchHeader {
			return nil
		}
		if ctx.Err() != nil {
			return errCompactionStopped
		}
		sealBatch(buf, 0)
		if _, err := tmp.Write(buf); err != nil {
			return err
		}
		off += int64(len(buf))
		buf, _ = beginBatch(buf[:0])
		return nil
	}
	for i := 0; i < len(frames); {
		from, to := frames[i].s.off, frames[i].s.off
		for ; i < len(frames) && frames[i].s.off == to && (to == from || to-from+int64(frames[i].s.n) <= compactChunk); i++ {
			frames[i].moved = off + int64(len(buf)) + (to - from)
			to += int64(frames[i].s.n)
		}
		at := len(buf)
		buf = slices.Grow(buf, int(to-from))[:at+int(to-from)]
		if _, err := f.ReadAt(buf[at:], from); err != nil {
			return 0, err
		}
		if len(buf) >= compactChunk {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if err := flush(); err != nil {
		return 0, err
	}
	if err := datasync(tmp); err != nil {
		return 0, err
	}
	if gate != nil { // tests: held here, between a send and a receive
		select {
		case gate <- struct{}{}:
		case <-ctx.Done():
			return 0, errCompactionStopped
		}
		select {
		case <-gate:
		case <-ctx.Done():
			return 0, errCompactionStopped
		}
	}
	return off, nil
}
