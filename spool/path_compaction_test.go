package spool

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCompactionDoesNotReplaceMovedInFile: an ordinary compaction
// (garbage) under way when the spool file is moved away and another put in
// its place does not rename its copy over that one.
func TestCompactionDoesNotReplaceMovedInFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	gate := make(chan struct{})
	d, stop := openRunningLost(t, DiskConfig{Path: path, KeepCount: 5, CompactAfter: 4 << 10, Heartbeat: 20 * time.Millisecond, compactGate: gate, Logger: slog.New(slog.DiscardHandler)})
	fill(t, d, 0, 1)
	held := nextNow(t, d)
	holdCompaction(t, d, gate, 1)
	if err := os.Rename(path, path+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("someone else's"), 0o600); err != nil {
		t.Fatal(err)
	}
	gate <- struct{}{}
	d.Release(held)
	fill(t, d, 1000, 1)
	openGate(t, gate)
	wantPathLost(t, stop(), 2, true)
	if b, err := os.ReadFile(path); err != nil || string(b) != "someone else's" {
		t.Fatalf("the file that took the path was overwritten: now %d bytes, %v; want it untouched", len(b), err)
	}
}

// TestCompactionDoesNotReplaceOtherAgent: the spool file of a running
// agent A is removed, and before A notices, another agent B starts on the
// same path (nothing holds its lock) and takes events. A's compactions no
// longer rename A's copy over B's file (they did: B's pending events were
// gone from the path, and a restart did not find them); each says why.
func TestCompactionDoesNotReplaceOtherAgent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	logged := make(messages, 1024)
	a, stopA := openRunningLost(t, DiskConfig{Path: path, KeepCount: 5, CompactAfter: 4 << 10, Heartbeat: time.Hour, Logger: slog.New(logged)})
	fill(t, a, 100, 1)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	b, stopB := openRunning(t, DiskConfig{Path: path, Heartbeat: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	fill(t, b, 0, 3) // B's events, pending
	// A message of A's so far says so: a compaction refused, or A's look
	// at its path (after its first commit, which may come after B took
	// the path), which holds compactions off.
	refused := func() bool {
		for {
			select {
			case msg := <-logged:
				if strings.Contains(msg, "names another file now") || strings.Contains(msg, "now names another file than the one this listen writes") {
					return true
				}
			default:
				return false
			}
		}
	}
	for i := 200; !refused(); i++ { // A's ordinary traffic, until a compaction is due and refused
		if i == 2200 {
			t.Fatal("A made no compaction, or did not say why it kept its copy")
		}
		fill(t, a, i, 1)
		a.Ack(nextNow(t, a), nil)
	}
	stopB()
	wantPathLost(t, stopA(), 1, true) // A's own pending event: the stop says it is lost
	if got := ids(mustList(t, path, Pending)); got != "id-0 id-1 id-2" {
		t.Fatalf("B's pending events after A's compactions: the path holds %q, want id-0 id-1 id-2", got)
	}
}
