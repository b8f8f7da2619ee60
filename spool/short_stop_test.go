//go:build linux

package spool

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestStopCountsDeadLettersNotStored: every event of a backlog that filled
// the disk turns out a dead letter, and listen stops while the spool is
// short of space. The dead letters held in memory (given up on before they
// were written) are neither on disk nor delivered: the stop must count
// them (Unstored), as the README says ("counts the held events it could
// not write"). It counted 0: writeFailed took a dead outcome for a
// delivery, and a by-hand run on a 4 MiB tmpfs lost 1,029 dead letters
// behind "unstored=0".
func TestStopCountsDeadLettersNotStored(t *testing.T) {
	const n = 3000
	cfg, logged := volumeConfig(t, 2<<20)
	d, stop := openRunningLost(t, cfg)
	var accepted atomic.Int64
	appending := make(chan struct{})
	go func() {
		defer close(appending)
		for i := range n {
			if d.Append(Event{ID: fmt.Sprint(i), Key: fmt.Sprint("k", i%20), Body: kibBody(i)}, nil) != nil {
				return
			}
			accepted.Add(1)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 4 { // a handler that refuses every event (400)
		go func() {
			for {
				ev, err := d.Next(ctx)
				if err != nil {
					return
				}
				d.Dead(ev, "400", nil)
			}
		}()
	}
	waitMessage(t, logged, "short of space until dead letters are purged")
	// Until the most dead letters the spool may hold wait in memory for
	// room, and appends wait (polling a condition, with a deadline).
	for deadline := time.Now().Add(30 * time.Second); d.heldN.Load() < maxHeld; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d events held in memory 30 s after the spool went short, want maxHeld (%d)", d.heldN.Load(), maxHeld)
		}
	}
	cancel()
	err := stop()
	<-appending // the Append in progress, if any, is refused or counted
	unstored := 0
	var werr *WriteError
	if errors.As(err, &werr) {
		unstored = werr.Unstored
	}
	got := int(accepted.Load())
	stored := len(mustList(t, cfg.Path, Dead)) + len(mustList(t, cfg.Path, Pending))
	if stored+unstored < got {
		t.Errorf("after the stop: %d dead or pending in the file, unstored=%d: %d of %d accepted events lost uncounted (err %v)",
			stored, unstored, got-stored-unstored, got, err)
	}
}

// TestNoDeadStuckWarningWhileCompacting: while a compaction is under way
// its copy holds the free space, so the spool must not say that only a
// purge ends the state (on a 4 MiB tmpfs it did, then left the state by
// itself 23 ms later as the compaction finished, with no purge).
func TestNoDeadStuckWarningWhileCompacting(t *testing.T) {
	cfg, logged := volumeConfig(t, 2<<20)
	cfg.diskFree = func(string) (int64, bool) { return 0, true } // the copy took it
	d, err := OpenDisk(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.closeFile)
	d.short, d.dead = true, 500<<10
	d.compacting = &compaction{done: make(chan struct{})}
	d.endShort(0)
	d.compacting = nil
	select {
	case m := <-logged:
		t.Errorf("while a compaction was under way: %v", m)
	default:
	}
}
