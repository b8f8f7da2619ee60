package spool

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDiskWriteFailureCountsUnstored: when the spool file cannot be
// written (here: a handle that refuses writes) and the agent is stopping
// (StopWaiting, so the write is not tried again), Run stops with a
// WriteError that counts the accepted events neither stored nor delivered,
// and says they are lost.
func TestDiskWriteFailureCountsUnstored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, err := OpenDisk(DiskConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	ro, err := os.Open(path) // writes to it fail
	if err != nil {
		t.Fatal(err)
	}
	d.fileMu.Lock()
	rw := d.f
	d.f = ro
	d.fileMu.Unlock()
	defer rw.Close()
	for _, id := range []string{"a", "b", "c"} {
		if err := d.Append(Event{ID: id, Key: id, Body: []byte(`{}`), Received: time.Now()}, nil); err != nil {
			t.Fatal(err)
		}
	}
	delivered := nextNow(t, d)
	d.Ack(delivered, []Attempt{{At: time.Now(), Status: 204}})
	d.StopWaiting()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = d.Run(ctx)
	var we *WriteError
	if !errors.As(err, &we) || we.Unstored != 2 {
		t.Fatalf("Run = %v, want a WriteError with 2 unstored events (the third was delivered)", err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "2 accepted events could not be stored") {
		t.Errorf("error %q does not name the file and the count", err)
	}
}
