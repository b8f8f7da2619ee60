package spool

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDiscardIfUnused: a spool file that a run made and never stored
// anything in is removed as Run returns when DiscardIfUnused was called
// (a listen refused at start used to leave it behind, and a bare `events
// list` then asked which spool to use); a file that holds anything, or
// was there before, or a run not told to discard, keeps its file.
func TestDiscardIfUnused(t *testing.T) {
	dir := t.TempDir()
	exists := func(path string) bool {
		_, err := os.Stat(path)
		return err == nil
	}

	unused := filepath.Join(dir, "unused.spool")
	d, stop := openRunning(t, DiskConfig{Path: unused})
	d.DiscardIfUnused()
	stop()
	if exists(unused) {
		t.Error("a new spool file that stored nothing is still there after DiscardIfUnused")
	}

	kept := filepath.Join(dir, "kept.spool")
	_, stop = openRunning(t, DiskConfig{Path: kept})
	stop()
	if !exists(kept) {
		t.Fatal("a spool file not asked to be discarded was removed")
	}
	d, stop = openRunning(t, DiskConfig{Path: kept}) // there before this run
	d.DiscardIfUnused()
	stop()
	if !exists(kept) {
		t.Error("a spool file made by an earlier run was removed")
	}

	stored := filepath.Join(dir, "stored.spool")
	d, stop = openRunning(t, DiskConfig{Path: stored})
	fill(t, d, 0, 1)
	d.DiscardIfUnused()
	stop()
	if got := ids(mustList(t, stored, Pending)); got != "id-0" {
		t.Errorf("pending in a new file that stored one event: %q, want id-0", got)
	}

	rejected := filepath.Join(dir, "rejected.spool")
	d, stop = openRunning(t, DiskConfig{Path: rejected})
	if err := d.Reject(Event{ID: "bad", Key: "k", Body: []byte("x")}, "bad signature", false); err != nil {
		t.Fatal(err)
	}
	d.DiscardIfUnused()
	stop()
	if got := ids(mustList(t, rejected, Dead)); got != "bad" {
		t.Errorf("dead letters in a new file that stored a refused frame: %q, want bad", got)
	}
}
