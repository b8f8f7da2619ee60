//go:build linux

package spool

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPathLostBesideWriteError: the spool's folder is removed (and cannot
// be made again), and the listen then stops during a full-disk pause. Run
// returns the WriteError and the PathLostError both: the stored pending
// events that no start will find are said at the stop too (only the write
// error was).
func TestPathLostBesideWriteError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	path := filepath.Join(dir, "events.spool")
	logged := make(messages, 256)
	d, stop := openRunningLost(t, DiskConfig{Path: path, Heartbeat: time.Hour, Logger: slog.New(logged)})
	fill(t, d, 0, 2)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a folder"), 0o600); err != nil {
		t.Fatal(err)
	}
	lift := limitFileSize(t, fi.Size())
	defer lift()
	if err := d.Append(Event{ID: "id-9", Key: "k9", Body: []byte(`{"n":9}`)}, nil); err != nil {
		t.Fatal(err)
	}
	waitMessage(t, logged, "cannot write the file")
	runErr := stop()
	lift()
	var lost *PathLostError
	var we *WriteError
	if !errors.As(runErr, &lost) || lost.Pending != 2 || !errors.As(runErr, &we) {
		t.Errorf("Run = %v (AtPath=%v): want the write error and the 2 stored pending events no start will find", runErr, d.AtPath())
	}
}
