package spool

import (
	"cmp"
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

// compact rewrites the spool file with its live frames only, in their
// order, and renames the new file over the old one: the garbage (frames
// that later ones superseded) is gone. The new file is locked before it
// takes the path, so no other process gets in between. Next may read the
// old file meanwhile; its reads of the closed old file are tried again.
// It runs on Run's goroutine.
func (d *Disk) compact() error {
	tmpPath := d.cfg.Path + compactSuffix
	tmp, err := os.OpenFile(tmpPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	places, end, err := d.copyLive(tmp)
	if err == nil {
		err = lockFile(tmp, time.Now())
	}
	if err == nil {
		err = os.Rename(tmpPath, d.cfg.Path)
	}
	if err != nil {
		tmp.Close()
		os.Remove(tmpPath)
		return err
	}
	// Renamed: the new file is the spool from here on, even if the
	// folder's sync fails (then the rename may not survive a crash, and
	// the old file, whole, would be found instead).
	dirErr := syncDir(filepath.Dir(d.cfg.Path))
	d.fileMu.Lock()
	old := d.f
	d.f, d.places, d.readEnd = tmp, places, end
	d.fileMu.Unlock()
	d.end = end
	old.Close()
	return dirErr
}

// copyLive writes the header and every live frame to tmp, in file order,
// syncs it and returns the frames' new places and the end of the file.
func (d *Disk) copyLive(tmp *os.File) (map[uint64]place, int64, error) {
	type frame struct {
		seq uint64
		out bool // the record's outcome frame
		s   span
	}
	frames := make([]frame, 0, len(d.places))
	for seq, p := range d.places {
		frames = append(frames, frame{seq: seq, s: p.rec()})
		if p.outN > 0 {
			frames = append(frames, frame{seq: seq, out: true, s: p.out()})
		}
	}
	slices.SortFunc(frames, func(a, b frame) int { return cmp.Compare(a.s.off, b.s.off) })
	if _, err := tmp.Write(fileHeader); err != nil {
		return nil, 0, err
	}
	off := int64(len(fileHeader)) // where buf goes
	places := make(map[uint64]place, len(d.places))
	buf, _ := beginBatch(nil)
	flush := func() error {
		if len(buf) == batchHeader {
			return nil
		}
		sealBatch(buf, 0)
		if _, err := tmp.Write(buf); err != nil {
			return err
		}
		off += int64(len(buf))
		buf, _ = beginBatch(buf[:0])
		return nil
	}
	// Live frames next to each other are read with one read, up to
	// compactChunk, and written in batches of about that size.
	for i := 0; i < len(frames); {
		from, to := frames[i].s.off, frames[i].s.off
		for ; i < len(frames) && frames[i].s.off == to && (to == from || to-from+int64(frames[i].s.n) <= compactChunk); i++ {
			f := frames[i]
			p := places[f.seq]
			p.code = d.places[f.seq].code
			moved := off + int64(len(buf)) + (f.s.off - from)
			if f.out {
				p.outOff, p.outN = moved, f.s.n
			} else {
				p.recOff, p.recN = moved, f.s.n
			}
			places[f.seq] = p
			to += int64(f.s.n)
		}
		at := len(buf)
		buf = slices.Grow(buf, int(to-from))[:at+int(to-from)]
		if _, err := d.f.ReadAt(buf[at:], from); err != nil {
			return nil, 0, err
		}
		if len(buf) >= compactChunk {
			if err := flush(); err != nil {
				return nil, 0, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, 0, err
	}
	return places, off, datasync(tmp)
}
