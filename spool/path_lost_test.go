package spool

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDeadLettersAtReplacedPath: the spool's file is moved away and
// another file put at its path; the events in it are all dead letters
// (kept for `events replay`). The stop says they are not at the path, as
// it does for pending events (it said nothing, and listen exited 0).
func TestDeadLettersAtReplacedPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunningLost(t, DiskConfig{Path: path, Heartbeat: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	fill(t, d, 0, 2)
	for range 2 {
		d.Dead(nextNow(t, d), "400 Bad Request (not retried)", nil)
	}
	if err := os.Rename(path, path+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("someone else's"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := stop()
	if got := len(mustList(t, path+".moved", Dead)); got != 2 {
		t.Fatalf("dead letters in the moved file: %d, want 2", got)
	}
	var lost *PathLostError
	if !errors.As(err, &lost) || lost.Dead != 2 || lost.Pending != 0 || !strings.Contains(err.Error(), "2 dead letters") {
		t.Fatalf("Run = %v (AtPath=%v), want a PathLostError for the 2 dead letters", err, d.AtPath())
	}
}

// linkedFolder makes root/other/sub and root/dirlink, a symbolic link to
// it: root/dirlink/.. is root/other to the kernel, root as text.
func linkedFolder(t *testing.T) (root, other string) {
	t.Helper()
	root = t.TempDir()
	other = filepath.Join(root, "other")
	if err := os.MkdirAll(filepath.Join(other, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(other, "sub"), filepath.Join(root, "dirlink")); err != nil {
		t.Fatal(err)
	}
	return root, other
}

// TestDotDotThroughSymlinkedFolder: --spool is dirlink/../events.spool,
// where dirlink is a symbolic link to a folder elsewhere and events.spool
// a symbolic link with a relative target. The kernel reads dirlink/.. as
// the parent of dirlink's target, and so does realPath now (it read it as
// text, and the agent wrote a file the link does not lead to): a normal
// stop says nothing is lost, and the next start finds the event.
func TestDotDotThroughSymlinkedFolder(t *testing.T) {
	root, other := linkedFolder(t)
	// The link the user means: root/other/events.spool -> real.spool
	if err := os.Symlink("real.spool", filepath.Join(other, "events.spool")); err != nil {
		t.Fatal(err)
	}
	given := filepath.Join(root, "dirlink") + "/../events.spool"
	d, stop := openRunningLost(t, DiskConfig{Path: given, Heartbeat: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	fill(t, d, 0, 1)
	err := stop()
	t.Logf("agent wrote %s; the link leads to %s", d.Path(), filepath.Join(other, "real.spool"))
	if err != nil {
		t.Errorf("Run = %v at a normal stop", err)
	}
	d2, err := OpenDisk(DiskConfig{Path: given, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if n := d2.Stored(); n != 1 {
		t.Errorf("the next start with the same --spool finds %d pending, want 1", n)
	}
}

// TestAwaitDoneNotReportedPaused: a live replay or purge whose write went
// through is answered so, even when a pause of the disk began and ended
// while it waited (its signal is closed): await used to pick at random
// between the two, and a replay carried out could be answered "it is
// queued", and run again by the user.
func TestAwaitDoneNotReportedPaused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, _ := openRunning(t, DiskConfig{Path: path})
	done, paused := make(chan struct{}), make(chan struct{})
	close(done)
	close(paused) // a pause that has since ended: pauseSig was replaced
	wrong := 0
	for range 200 {
		if err := d.await(t.Context(), done, paused, whileShort); err != nil {
			wrong++
		}
	}
	if wrong > 0 {
		t.Errorf("await with its write done: %d of 200 answered %v", wrong, d.waitError("replay", errPausedMeanwhile, true))
	}
}

// TestDotDotPathIsTheFileOpened: a --spool that is no link but reached
// through ".." after a linked folder (dirlink/../x.spool) names, as the
// spool's real path, the file the kernel opens: beside where dirlink leads.
// (It named the text's x.spool beside dirlink, where listen put its
// control socket, which events commands given the real path did not find.)
func TestDotDotPathIsTheFileOpened(t *testing.T) {
	root, other := linkedFolder(t)
	d, stop := openRunning(t, DiskConfig{Path: filepath.Join(root, "dirlink") + "/../x.spool"})
	fill(t, d, 0, 1)
	stop()
	if want := filepath.Join(other, "x.spool"); d.Path() != want {
		t.Fatalf("Path() = %s, want %s, the file opened", d.Path(), want)
	}
	if got := ids(mustList(t, filepath.Join(other, "x.spool"), Pending)); got != "id-0" {
		t.Fatalf("pending in the file beside where dirlink leads: %q, want id-0", got)
	}
}
