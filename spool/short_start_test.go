//go:build linux

package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestStartCompactsGarbage: a spool file left mostly garbage (its
// delivered history purged offline, which does not compact) on a volume
// with little room beside it is compacted as the run starts, before any
// event comes. (A reserve that could not be made at the start is made
// after a compaction; the fake volume here cannot refuse one, so that
// part is not tested.)
// The run used to start without a reserve and wait for events to compact:
// the first backlog then found the disk full, and a burst of dead
// letters' outcomes failed to be written for good (a walk-through on a
// 4 MiB tmpfs: purge and replay refused while the write failed).
func TestStartCompactsGarbage(t *testing.T) {
	const volume = 4 << 20
	cfg, _ := volumeConfig(t, volume)
	cfg.KeepCount = 5000
	d, stop := openRunningLost(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range 3000 {
		if err := d.Append(Event{ID: fmt.Sprint(i), Key: fmt.Sprint("k", i%20), Body: kibBody(i)}, nil); err != nil {
			t.Fatal(err)
		}
		ev, err := d.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d.Ack(ev, nil)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n, err := Purge(cfg.Path, Delivered); err != nil || n != 3000 {
		t.Fatalf("Purge(delivered) = %d, %v; want all 3000", n, err)
	}
	before := fileSize(t, cfg.Path)
	// Something else takes the volume but the reserve and 100 KiB beside
	// the file. (Here the reserve can always be made: the volume is the
	// free space the spool is told, not a file system.)
	if err := os.WriteFile(filepath.Join(filepath.Dir(cfg.Path), "other"), make([]byte, volume-before-reserveBytes-100<<10), 0o600); err != nil {
		t.Fatal(err)
	}

	_, stop2 := openRunningLost(t, cfg)
	defer stop2()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if size := fileSize(t, cfg.Path); size < before/10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("20 s after the start: file %d bytes (was %d, nearly all garbage); want it compacted", fileSize(t, cfg.Path), before)
		}
	}
	if err := stop2(); err != nil && !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
}
