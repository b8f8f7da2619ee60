package spool

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// spoolWithMode makes a spool file holding one pending event and gives it
// mode perm, as a copy or an older version might have left it.
func spoolWithMode(t *testing.T, perm fs.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path})
	appendSync(t, d, Event{ID: "a", Key: "call:1", Body: []byte(`{"call_id":1}`)})
	stop()
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
	return path
}

func modeOf(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestDiskRestrictsExistingFileMode: the spool holds event bodies, so an
// existing file others may read is made 0600 when the agent opens it, and
// its events are still there; one already private keeps its mode.
func TestDiskRestrictsExistingFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no group or other permission bits")
	}
	tests := []struct {
		perm, want fs.FileMode
	}{
		{0o644, 0o600},
		{0o640, 0o600},
		{0o604, 0o600},
		{0o666, 0o600},
		{0o660, 0o600},
		{0o600, 0o600},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%04o", tt.perm), func(t *testing.T) {
			path := spoolWithMode(t, tt.perm)
			d, _ := openRunning(t, DiskConfig{Path: path})
			if got := modeOf(t, path); got != tt.want {
				t.Errorf("mode after OpenDisk = %04o, want %04o", got, tt.want)
			}
			if ev := nextNow(t, d); ev.ID != "a" || string(ev.Body) != `{"call_id":1}` {
				t.Errorf("pending event after OpenDisk = %+v, want a", ev)
			}
		})
	}
}

// TestAdminWritesRestrictFileMode: replay and purge, which write the spool
// file too, make it 0600 as the agent does.
func TestAdminWritesRestrictFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no group or other permission bits")
	}
	path := spoolWithMode(t, 0o644)
	if _, err := Purge(path, Dead); err != nil {
		t.Fatal(err)
	}
	if got := modeOf(t, path); got != 0o600 {
		t.Errorf("mode after Purge = %04o, want 0600", got)
	}
}

// TestAdminReadsKeepFileMode: events list and show only read the file: its
// mode stays as it is.
func TestAdminReadsKeepFileMode(t *testing.T) {
	path := spoolWithMode(t, 0o644)
	if recs := mustList(t, path, Pending); len(recs) != 1 {
		t.Fatalf("List = %d records, want 1", len(recs))
	}
	if _, _, err := Find(path, "a"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Records(path, Pending, Delivered, Dead); err != nil {
		t.Fatal(err)
	}
	if got := modeOf(t, path); got != 0o644 {
		t.Errorf("mode after List, Find and Records = %04o, want it left 0644", got)
	}
}

// TestDiskLeavesOtherFilesMode: a file that is not a spool is refused, and
// left as it is, mode included: a mistyped --spool must not change a
// user's file.
func TestDiskLeavesOtherFilesMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no group or other permission bits")
	}
	for name, content := range map[string]string{
		"text":      "some notes\n",
		"one byte":  "x",
		"old magic": string(fileHeader[:len(fileHeader)-1]) + "\x00",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "notes.txt")
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := OpenDisk(DiskConfig{Path: path}); err == nil || !strings.Contains(err.Error(), "not a dialpad-tunnel spool") {
				t.Fatalf("OpenDisk = %v, want a refusal as not a spool", err)
			}
			if got := modeOf(t, path); got != 0o644 {
				t.Errorf("mode after the refusal = %04o, want it left 0644", got)
			}
			if b, _ := os.ReadFile(path); string(b) != content {
				t.Errorf("content after the refusal = %q, want it left %q", b, content)
			}
		})
	}
}
