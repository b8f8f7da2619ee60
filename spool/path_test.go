package spool

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// openRunningLost is openRunning whose stop returns Run's error, which
// these tests look at.
func openRunningLost(t *testing.T, cfg DiskConfig) (d *Disk, stop func() error) {
	t.Helper()
	if cfg.CommitInterval == 0 {
		cfg.CommitInterval = time.Millisecond
	}
	d, err := OpenDisk(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			d.Close()
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() { stop() })
	return d, stop
}

// openGate lets every later compaction through gate (tests holding one
// first): as Run ends, a spool whose path names another file writes a
// rescue copy, a compaction, and waits for it.
func openGate(t *testing.T, gate chan struct{}) {
	t.Helper()
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-gate:
			case <-quit:
				return
			}
			select {
			case gate <- struct{}{}:
			case <-quit:
				return
			}
		}
	}()
	t.Cleanup(func() { close(quit); <-done })
}

// wantPathLost checks that err is Run's PathLostError for pending events,
// the path holding another file (replaced) or none.
func wantPathLost(t *testing.T, err error, pending int, replaced bool) {
	t.Helper()
	var lost *PathLostError
	if !errors.As(err, &lost) || lost.Pending != pending || lost.Replaced != replaced {
		t.Fatalf("Run = %v, want a PathLostError for %d pending events (replaced %v)", err, pending, replaced)
	}
}

// TestRemovedFileWrittenAgain: a spool file removed while it runs is
// written again from the open one at the next heartbeat, with every
// record, and the events still to deliver are found at the next start.
// (Before, the running spool wrote on to the removed file, and a restart
// began an empty one: every pending event was gone without a word.)
func TestRemovedFileWrittenAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	logged := make(messages, 64)
	d, stop := openRunning(t, DiskConfig{Path: path, Heartbeat: 20 * time.Millisecond, Logger: slog.New(logged)})
	fill(t, d, 0, 3)
	d.Ack(nextNow(t, d), nil)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitMessage(t, logged, "the file was removed (or moved away) while listen ran; writing it again")
	deadline := time.Now().Add(10 * time.Second)
	for _, err := os.Stat(path); err != nil; _, err = os.Stat(path) {
		if time.Now().After(deadline) {
			t.Fatalf("the removed file was not written again: %v", err)
		}
		time.Sleep(5 * time.Millisecond) // polls a condition, with a deadline
	}
	fill(t, d, 3, 1) // written to the new file
	stop()
	if got := ids(mustList(t, path, Pending)); got != "id-1 id-2 id-3" {
		t.Fatalf("pending after the restart: %q, want id-1 id-2 id-3", got)
	}
	if got := ids(mustList(t, path, Delivered)); got != "id-0" {
		t.Fatalf("delivered after the restart: %q, want id-0", got)
	}
}

// TestRemovedFileWrittenAgainAtStop: a spool file removed shortly before
// the stop (no heartbeat came between) is written again as Run ends.
func TestRemovedFileWrittenAgainAtStop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	logged := make(messages, 64)
	d, stop := openRunning(t, DiskConfig{Path: path, Heartbeat: time.Hour, Logger: slog.New(logged)})
	fill(t, d, 0, 2)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	stop()
	waitMessage(t, logged, "the removed file is written again")
	if got := ids(mustList(t, path, Pending)); got != "id-0 id-1" {
		t.Fatalf("pending after the restart: %q, want id-0 id-1", got)
	}
	noReserveLeft(t, path)
}

// noReserveLeft fails t if the spool at path left its reserve behind as
// it stopped: writing the file again finishes a compaction, which made
// the reserve again once it had been released (it stayed, 256 KiB).
func noReserveLeft(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path + reserveSuffix); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s after the stop: %v; want it removed", path+reserveSuffix, err)
	}
}

// TestReplacedFileNotOverwritten: when the spool's path names another
// file (one moved there), the running spool does not overwrite it: it
// logs an error saying the pending events are not in it.
func TestReplacedFileNotOverwritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	logged := make(messages, 64)
	d, stop := openRunningLost(t, DiskConfig{Path: path, Heartbeat: 20 * time.Millisecond, Logger: slog.New(logged)})
	fill(t, d, 0, 1)
	if err := os.Rename(path, path+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("someone else's"), 0o600); err != nil {
		t.Fatal(err)
	}
	msg := waitMessage(t, logged, "now names another file")
	if !strings.Contains(msg, path) {
		t.Errorf("the error does not name the path: %s", msg)
	}
	wantPathLost(t, stop(), 1, true) // the stop says so: listen exits as having lost them
	if b, err := os.ReadFile(path); err != nil || string(b) != "someone else's" {
		t.Fatalf("the file at the path: %q, %v; want it untouched", b, err)
	}
	if got := ids(mustList(t, path+".moved", Pending)); got != "id-0" {
		t.Fatalf("pending in the moved file: %q, want id-0", got)
	}
}

// TestRestoreDoesNotReplaceNewFile: a file made at the path while the
// removed spool is being written again (another agent started there, say)
// is not replaced by the copy: the copy is dropped, and the path is
// reported as naming another file.
func TestRestoreDoesNotReplaceNewFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	logged := make(messages, 64)
	gate := make(chan struct{})
	d, stop := openRunningLost(t, DiskConfig{Path: path, Heartbeat: 20 * time.Millisecond, Logger: slog.New(logged), compactGate: gate})
	fill(t, d, 0, 1)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	<-gate // the copy is done, and held before it takes the path
	if err := os.WriteFile(path, []byte("another agent's"), 0o600); err != nil {
		t.Fatal(err)
	}
	gate <- struct{}{}
	waitMessage(t, logged, "now names another file")
	openGate(t, gate)
	wantPathLost(t, stop(), 1, true)
	if b, err := os.ReadFile(path); err != nil || string(b) != "another agent's" {
		t.Fatalf("the file at the path: %q, %v; want the one made there, untouched", b, err)
	}
	if _, err := os.Stat(path + compactSuffix); !os.IsNotExist(err) {
		t.Errorf("the dropped copy is still there: %v", err)
	}
}

// TestRemovedFolderMadeAgain: a spool whose folder was removed with it is
// written again, the folder made again as at start.
func TestRemovedFolderMadeAgain(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	path := filepath.Join(dir, "events.spool")
	logged := make(messages, 64)
	d, stop := openRunningLost(t, DiskConfig{Path: path, Heartbeat: time.Hour, Logger: slog.New(logged)})
	fill(t, d, 0, 2)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v, want the file written again", err)
	}
	waitMessage(t, logged, "the removed file is written again")
	if got := ids(mustList(t, path, Pending)); got != "id-0 id-1" {
		t.Fatalf("pending after the restart: %q, want id-0 id-1", got)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("the folder made again: %v, %v; want mode 0700", fi, err)
	}
}

// TestRemovedUnrestorableLost: when a removed spool file cannot be
// written again (its folder cannot be made: a file is where it was), the
// stop says the pending events are lost, where listen used to say they
// were left for the next start.
func TestRemovedUnrestorableLost(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	path := filepath.Join(dir, "events.spool")
	d, stop := openRunningLost(t, DiskConfig{Path: path, Heartbeat: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	fill(t, d, 0, 2)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a folder"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantPathLost(t, stop(), 2, false)
	if d.AtPath() {
		t.Error("AtPath() = true, though the path holds nothing")
	}
}

// TestSymlinkedSpoolUnlinked: a --spool that is a symbolic link, removed
// or pointed elsewhere while the spool runs, is noticed at the heartbeat
// and at the stop, which says where the pending events are; the file
// itself is left as it is. (Only the file the link led to was looked at,
// and nothing was said.)
func TestSymlinkedSpoolUnlinked(t *testing.T) {
	for _, tc := range []struct {
		name string
		undo func(link string) error
	}{
		{"removed", func(link string) error { return os.Remove(link) }},
		{"pointed elsewhere", func(link string) error {
			other := link + ".other"
			if err := os.WriteFile(other, nil, 0o600); err != nil {
				return err
			}
			if err := os.Remove(link); err != nil {
				return err
			}
			return os.Symlink(other, link)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			real, link := filepath.Join(dir, "real.spool"), filepath.Join(dir, "link.spool")
			if err := os.Symlink(real, link); err != nil {
				t.Fatal(err)
			}
			logged := make(messages, 64)
			d, stop := openRunningLost(t, DiskConfig{Path: link, Heartbeat: 20 * time.Millisecond, Logger: slog.New(logged)})
			fill(t, d, 0, 2)
			if err := tc.undo(link); err != nil {
				t.Fatal(err)
			}
			msg := waitMessage(t, logged, "no longer leads to the file this listen writes")
			if !strings.Contains(msg, link) {
				t.Errorf("the error does not name the link: %s", msg)
			}
			err := stop()
			var lost *PathLostError
			if !errors.As(err, &lost) || lost.Link != link || lost.Pending != 2 || !strings.Contains(err.Error(), "--spool "+real) {
				t.Fatalf("Run = %v, want a PathLostError naming the link and the file", err)
			}
			if got := ids(mustList(t, real, Pending)); got != "id-0 id-1" {
				t.Fatalf("pending in the file itself: %q, want id-0 id-1", got)
			}
		})
	}
}

// TestReplacedPathRescued: when the spool's path names another file as
// the spool stops (a second listen's, after this one's file was removed),
// what the file this one wrote holds is written to <path>.rescued, which a
// listen can start on: it died with the process before, the open file
// being the only copy.
func TestReplacedPathRescued(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunningLost(t, DiskConfig{Path: path, Heartbeat: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	fill(t, d, 0, 2)
	d.Dead(nextNow(t, d), "400 Bad Request (not retried)", nil)
	if err := os.Remove(path); err != nil { // the only copy is the open file now
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("another agent's"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := stop()
	var lost *PathLostError
	if !errors.As(err, &lost) || lost.Rescued != path+rescueSuffix || !strings.Contains(err.Error(), "--spool "+path+rescueSuffix) {
		t.Fatalf("Run = %v, want a PathLostError naming the rescue copy", err)
	}
	if got := ids(mustList(t, lost.Rescued, Pending)); got != "id-1" {
		t.Fatalf("pending in the rescue copy: %q, want id-1", got)
	}
	if got := ids(mustList(t, lost.Rescued, Dead)); got != "id-0" {
		t.Fatalf("dead in the rescue copy: %q, want id-0", got)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "another agent's" {
		t.Fatalf("the file at the path: %q, %v; want it untouched", b, err)
	}
	noReserveLeft(t, path)
}

// TestReplacedPathRescuedBesideEarlierRescue: a rescue copy left by an
// earlier stop (or a listen started on it, as the stop advised) does not
// keep this stop's events from being rescued: they go to a copy of their
// own, and the earlier one is left as it is. The rescue failed, the stop
// named the earlier copy as the one holding them (start listen with
// --spool <file>.rescued), and they were lost with the open file.
func TestReplacedPathRescuedBesideEarlierRescue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	if err := os.WriteFile(path+rescueSuffix, []byte("an earlier rescue"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, stop := openRunningLost(t, DiskConfig{Path: path, Heartbeat: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	fill(t, d, 0, 1)
	if err := os.Remove(path); err != nil { // the only copy is the open file now
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("another agent's"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := stop()
	var lost *PathLostError
	if !errors.As(err, &lost) || lost.Rescued == "" || !strings.HasPrefix(lost.Rescued, path+rescueSuffix) || !strings.Contains(err.Error(), "--spool "+lost.Rescued) {
		t.Fatalf("Run = %v, want a PathLostError naming a rescue copy", err)
	}
	if got := ids(mustList(t, lost.Rescued, Pending)); got != "id-0" {
		t.Fatalf("pending in the rescue copy %s: %q, want id-0", lost.Rescued, got)
	}
	if b, err := os.ReadFile(path + rescueSuffix); err != nil || string(b) != "an earlier rescue" {
		t.Fatalf("the earlier rescue copy: %q, %v; want it untouched", b, err)
	}
	noReserveLeft(t, path)
}
