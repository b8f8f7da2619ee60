package spool

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestHold: Hold takes the lock a running Disk holds (ErrLocked while one
// does), keeps OpenDisk out while held (ErrLocked after its wait), and
// changes nothing in the file: its bytes and mode stay as they were.
func TestHold(t *testing.T) {
	dir := t.TempDir()
	if _, err := Hold(filepath.Join(dir, "missing.spool")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Hold(missing) = %v, want fs.ErrNotExist", err)
	}
	path := filepath.Join(dir, "events.spool")
	_, stop := openRunning(t, DiskConfig{Path: path})
	if f, err := Hold(path); !errors.Is(err, ErrLocked) {
		if f != nil {
			f.Close()
		}
		t.Fatalf("Hold of a running spool = %v, want ErrLocked", err)
	}
	stop()
	if err := os.Chmod(path, 0o644); err != nil { // as an older version left it
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Hold(path)
	if err != nil {
		t.Fatalf("Hold of a spool no one runs: %v", err)
	}
	if _, err := OpenDisk(DiskConfig{Path: path, LockTimeout: 50 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Fatalf("OpenDisk while held = %v, want ErrLocked", err)
	}
	after, err := os.ReadFile(path)
	fi, statErr := os.Stat(path)
	if err != nil || statErr != nil || !bytes.Equal(before, after) || fi.Mode().Perm() != 0o644 {
		t.Errorf("Hold changed the file: mode %v, %d bytes before, %d after (%v, %v)", fi.Mode(), len(before), len(after), err, statErr)
	}
	f.Close()
	openRunning(t, DiskConfig{Path: path}) // let go: it opens
}
