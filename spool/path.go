package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// A spool file removed while the agent runs (rm, a clean-up job, a
// tmpfiles rule) would take every pending event with it at the next start:
// the agent writes on to the open file, and nothing else notices. So Run
// looks at the path every Heartbeat, and as it ends. A removed file is
// written again from the open one by a compaction, which copies every
// live record to a new file and links it into place, which fails if a
// file was made there meanwhile. A path that names another file now (one
// moved there, or made by another agent) is not overwritten: that is
// logged, as an error, each time.

// pathState is what checkPath found.
type pathState uint8

const (
	pathOK       pathState = iota
	pathRemoved            // nothing at the path: written again
	pathReplaced           // another file there
	pathUnlinked           // the path as given (a symbolic link) no longer leads to the file
)

// checkPath compares the file at the spool's path with the open one, and
// starts a compaction to write it again when it is gone. It runs on Run's
// goroutine.
func (d *Disk) checkPath() pathState {
	open, err := d.f.Stat()
	if err != nil {
		return pathOK // nothing to compare: the next write says what is wrong
	}
	at, err := os.Stat(d.cfg.Path)
	switch {
	case err == nil && os.SameFile(at, open):
		d.pathTaken = false
		if d.link != "" {
			via, err := os.Stat(d.link)
			if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
				return pathOK // cannot tell (a permission changed?)
			}
			if err != nil || !os.SameFile(via, open) {
				d.logPathLost("spool: the --spool path, a symbolic link, no longer leads to the file this listen writes (removed, or pointed elsewhere): the events pending here will not be found through it at the next start; put the link back, or keep this listen running until they are delivered",
					nil, "link", d.link)
				return pathUnlinked
			}
		}
		d.pathLostAt = time.Time{}
		return pathOK
	case err == nil:
		d.pathTaken = true // no compaction until it is back: it would replace that file
		d.logPathLost("spool: the spool's path now names another file than the one this listen writes (moved or replaced): the events pending here are not in it, and the next start will not find them; put the file back, or keep this listen running until they are delivered",
			nil)
		return pathReplaced
	case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
		return pathOK // cannot tell (a permission changed?): not a reason to copy
	}
	d.pathTaken = false
	if d.compacting != nil {
		d.compacting.restore = true // it writes the path again
		return pathRemoved
	}
	// The folder may have gone with it: made again, and synced, as at
	// start (the restore syncs the file's entry in it).
	dir := filepath.Dir(d.cfg.Path)
	if err := makeFolder(dir, d.syncDirFunc()); err != nil {
		if fi, serr := os.Stat(dir); serr != nil || !fi.IsDir() {
			d.logPathLost("spool: the file was removed while listen ran, and its folder cannot be made again: the events pending in it are kept only by this running listen, and lost if it stops first",
				err)
			return pathRemoved
		}
		// Written again all the same: a crash may lose the folder, but
		// stopping with the file not there loses its events for sure.
		d.cfg.Logger.Warn("spool: the removed file's folder was made again, but not synced: a crash soon may lose it, and the file written in it", "spool", d.cfg.Path, "error", err)
	}
	if err := d.startCompaction(); err != nil {
		d.logPathLost("spool: the file was removed while listen ran, and cannot be written again: the events pending in it are kept only by this running listen, and lost if it stops first; restore the folder",
			err)
		return pathRemoved
	}
	d.compacting.restore = true
	d.cfg.Logger.Error("spool: the file was removed (or moved away) while listen ran; writing it again from the open copy (a compaction): if it was moved on purpose, start no listen on the moved copy, or its events are delivered twice", "spool", d.cfg.Path)
	return pathRemoved
}

// logPathLost logs msg as an error, with how long the path has been lost,
// and attrs.
func (d *Disk) logPathLost(msg string, err error, attrs ...any) {
	now := time.Now()
	if d.pathLostAt.IsZero() {
		d.pathLostAt = now
	}
	args := append([]any{"spool", d.cfg.Path, "for", now.Sub(d.pathLostAt).Round(time.Second).String()}, attrs...)
	if err != nil {
		args = append(args, "error", err)
	}
	d.cfg.Logger.Error(msg, args...)
}

// restorePath, as Run ends, writes a removed spool file again before the
// open one closes, waiting for the copy: what is pending is then found at
// the next start. When the path still does not name the file then (it
// could not be written again, or names another file), and events are
// pending in it, it returns a PathLostError.
func (d *Disk) restorePath() error {
	state := d.checkPath()
	if state == pathRemoved && d.compacting != nil {
		d.finishCompactionNow()
		if state = d.checkPath(); state == pathOK {
			d.cfg.Logger.Warn("spool: the removed file is written again", "spool", d.cfg.Path)
		}
	}
	if state == pathOK {
		return nil
	}
	d.lost = true
	pending, dead := d.Stored(), d.deadCount()
	if pending+dead == 0 {
		return nil
	}
	e := &PathLostError{Path: d.cfg.Path, Pending: pending, Dead: dead, Replaced: state == pathReplaced}
	if state == pathUnlinked {
		e.Link = d.link
	}
	if state == pathReplaced {
		e.Rescued = d.rescue()
	}
	return e
}

// rescueSuffix names the copy restorePath writes beside a spool's path
// that names another file.
const rescueSuffix = ".rescued"

// rescue, as Run ends with the spool's path naming another file, writes
// what the open file holds to <path>.rescued (a compaction), so that it
// outlives this process (the open file may have been removed), and
// returns that name; "" if it could not. When a rescue copy of an earlier
// stop is there (or a listen was started on it), the name has the time
// added: linking the copy over it failed, and the earlier copy was named
// as this one, its events lost with the open file.
func (d *Disk) rescue() string {
	d.finishCompactionNow() // one under way would not take the path: done with first
	to := d.cfg.Path + rescueSuffix
	if _, err := os.Lstat(to); err == nil {
		to += "-" + time.Now().UTC().Format("20060102T150405.000000000Z")
		if len(filepath.Base(to)) > maxName {
			// checkName leaves room for rescueSuffix only.
			d.cfg.Logger.Error("spool: could not write the events of this listen's file to a rescue copy: an earlier one is there, and a name with the time added would be over the limit for a file name; move it away",
				"spool", d.cfg.Path, "rescue", d.cfg.Path+rescueSuffix, "limit", maxName)
			return ""
		}
	}
	if err := d.startCompaction(); err != nil {
		d.cfg.Logger.Error("spool: could not write the events of this listen's file to a rescue copy", "spool", d.cfg.Path, "rescue", to, "error", err)
		return ""
	}
	d.compacting.rescue = to
	d.finishCompactionNow()
	at, err := os.Stat(to)
	if err != nil || !os.SameFile(at, d.fileInfo()) {
		return "" // compactIfDue said why
	}
	return to
}

// fileInfo is what the open spool file is, or nil if it cannot be told.
func (d *Disk) fileInfo() os.FileInfo {
	fi, err := d.f.Stat()
	if err != nil {
		return nil
	}
	return fi
}

// finishCompactionNow waits for the compaction under way, if any, to copy
// what it began with, then finishes it (or logs why it could not), as Run
// ends.
func (d *Disk) finishCompactionNow() {
	if c := d.compacting; c != nil {
		<-c.done
		d.compactIfDue()
	}
}

// deadCount counts the dead letters in the file.
func (d *Disk) deadCount() int {
	d.fileMu.Lock()
	defer d.fileMu.Unlock()
	n := 0
	for _, p := range d.places {
		if p.state() == Dead {
			n++
		}
	}
	return n
}

// PathLostError is Run's error when, as it ends, the spool's path does not
// name the file it wrote (removed and not written again, or another file
// there now) while events are pending in it, or dead letters: the next
// start will not find them.
type PathLostError struct {
	Path     string
	Pending  int
	Dead     int
	Replaced bool   // another file is at the path; else none
	Link     string // the --spool path, a symbolic link, that no longer leads to Path
	Rescued  string // where its events were written instead of Path, if anywhere
}

// what counts the events concerned: "3 pending events and 1 dead letter".
func (e *PathLostError) what() string {
	var parts []string
	if e.Pending > 0 {
		parts = append(parts, plural(e.Pending, "pending event"))
	}
	if e.Dead > 0 {
		parts = append(parts, plural(e.Dead, "dead letter"))
	}
	return strings.Join(parts, " and ")
}

func (e *PathLostError) Error() string {
	if e.Link != "" {
		return fmt.Sprintf("spool: %s: the --spool path %s, a symbolic link, no longer leads to this file (removed, or pointed elsewhere): a start through it will not find its %s; start with --spool %s, or put the link back",
			e.Path, e.Link, e.what(), e.Path)
	}
	why := "the file was removed, and could not be written again"
	if e.Replaced {
		why = "the path names another file now (the one listen wrote was moved or replaced)"
	}
	msg := fmt.Sprintf("spool: %s: %s: the next start will not find the %s of the file this listen wrote", e.Path, why, e.what())
	if e.Rescued != "" {
		msg += fmt.Sprintf("; they are kept in %s: start listen with --spool %s to deliver them (or events list --spool %s)", e.Rescued, e.Rescued, e.Rescued)
	}
	return msg
}

// plural is n and noun, with an s when n is not 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// AtPath reports, once Run has ended, whether the spool's path named the
// file it wrote: what it holds is found at the next start.
func (d *Disk) AtPath() bool { return !d.lost }

// DiscardIfUnused asks Run to remove the file as it returns if this run
// made it (or found it empty) and never stored anything in it: a listen
// refused at start (a wrong key, a mistyped id) then leaves no empty spool
// behind to be found by the next `events` command. Call it before Run is
// stopped.
func (d *Disk) DiscardIfUnused() { d.discard.Store(true) }

// removeUnused removes the file for DiscardIfUnused, from Run, while the
// file is still open and locked, so that no other run has it.
func (d *Disk) removeUnused() {
	if !d.discard.Load() || !d.fresh || d.lost {
		return
	}
	d.appendMu.Lock()
	defer d.appendMu.Unlock()
	if d.seq != 0 {
		return // something was stored
	}
	open, err := d.f.Stat()
	if err != nil {
		return
	}
	if at, err := os.Stat(d.cfg.Path); err != nil || !os.SameFile(at, open) {
		return // the path names another file now, or none
	}
	if runtime.GOOS == "windows" {
		// An open file cannot be removed there: closeFile removes it
		// once closed.
		d.removeClosed = true
		return
	}
	d.removeFile()
}

// removeFile removes the unused spool file (see removeUnused).
func (d *Disk) removeFile() {
	if err := os.Remove(d.cfg.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.cfg.Logger.Warn("spool: the unused spool file could not be removed", "spool", d.cfg.Path, "error", err)
	}
}
