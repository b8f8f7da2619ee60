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
// written for a reason other than space (here: a handle that refuses
// writes, as a file system remounted read-only does), Run stops at once
// with a WriteError that counts the accepted events neither stored nor
// delivered, and says they are lost.
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
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background()) }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		d.StopWaiting()
		t.Fatalf("Run still going 10 s after a write failed with %v, want it stopped at once", <-done)
	}
	var we *WriteError
	if !errors.As(err, &we) || we.Unstored != 2 {
		t.Fatalf("Run = %v, want a WriteError with 2 unstored events (the third was delivered)", err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "2 accepted events could not be stored") {
		t.Errorf("error %q does not name the file and the count", err)
	}
}
