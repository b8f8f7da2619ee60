//go:build linux

package spool

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestShortDeadLettersDoNotWedge: the handler is back, but gives up on one
// event in twenty, or ten (a dead letter, kept with its body, so the file
// does not shrink to nothing). Every event must still reach its end, the
// spool leave the short of space state (storing what it held in memory)
// and every dead letter be stored. It used to wedge: the events held took
// the released reserve and the room a compaction needs, dead letters the
// margin kept for outcomes, and the writer waited for space forever (2,316
// of 3,000 events finished in a minute; 684 lost at the stop).
func TestShortDeadLettersDoNotWedge(t *testing.T) {
	for _, deadEvery := range []int{20, 10} {
		t.Run(fmt.Sprint(deadEvery), func(t *testing.T) { shortDeadLetters(t, deadEvery) })
	}
}

func shortDeadLetters(t *testing.T, deadEvery int) {
	const n, keys = 3000, 20
	// A volume with room for the dead letters twice over, beside the
	// reserve and the slack the spool leaves the state with: 2 MiB for
	// the 330 KiB of one in ten (on 1 MiB, it rightly stays short).
	d, stop, path, _, published, _ := fillShort(t, 2<<20, n, keys)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	finishAll(ctx, t, d, n, func(i int) bool { return i%deadEvery == 0 })
	if err := <-published; err != nil {
		t.Fatalf("Append: %v", err)
	}
	for deadline := time.Now().Add(30 * time.Second); d.Paused() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("still short of space 30 s after every event finished: the events held in memory are never stored")
		}
	}
	stop()
	if dead := mustList(t, path, Dead); len(dead) != n/deadEvery {
		t.Errorf("%d dead letters stored, want %d", len(dead), n/20)
	}
	if pending := mustList(t, path, Pending); len(pending) != 0 {
		t.Errorf("%d events pending after all finished, want none", len(pending))
	}
}
