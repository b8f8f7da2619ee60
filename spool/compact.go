package spool

import (
	"bufio"
	"cmp"
	"os"
	"path/filepath"
	"slices"
	"time"
)

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
	if err := syncDir(filepath.Dir(d.cfg.Path)); err != nil {
		return err
	}
	d.fileMu.Lock()
	old := d.f
	d.f, d.places = tmp, places
	d.fileMu.Unlock()
	d.end = end
	return old.Close()
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
		frames = append(frames, frame{seq: seq, s: p.rec})
		if p.out.n > 0 {
			frames = append(frames, frame{seq: seq, out: true, s: p.out})
		}
	}
	slices.SortFunc(frames, func(a, b frame) int { return cmp.Compare(a.s.off, b.s.off) })
	w := bufio.NewWriterSize(tmp, 1<<20)
	w.Write(fileHeader)
	off := int64(len(fileHeader))
	places := make(map[uint64]place, len(d.places))
	var raw []byte
	for _, f := range frames {
		raw = slices.Grow(raw[:0], int(f.s.n))[:f.s.n]
		if _, err := d.f.ReadAt(raw, f.s.off); err != nil {
			return nil, 0, err
		}
		if _, err := w.Write(raw); err != nil {
			return nil, 0, err
		}
		p := places[f.seq]
		p.state = d.places[f.seq].state
		if f.out {
			p.out = span{off: off, n: f.s.n}
		} else {
			p.rec = span{off: off, n: f.s.n}
		}
		places[f.seq] = p
		off += int64(f.s.n)
	}
	if err := w.Flush(); err != nil {
		return nil, 0, err
	}
	return places, off, datasync(tmp)
}
