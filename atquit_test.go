package main

import (
	"testing"
	"time"
)

// TestAtQuitCleanups: what a command registers with atQuit runs when the
// process quits at once on a second stop signal (quitOn), unless dropped
// since: demo's temporary spool folder was left behind. A cleanup that
// hangs keeps neither another from running nor the process from quitting.
func TestAtQuitCleanups(t *testing.T) {
	ran := make(chan string, 2)
	dropKept := atQuit(func() { ran <- "kept" })
	defer dropKept()
	atQuit(func() { ran <- "dropped" })()
	hang, hung := make(chan struct{}), make(chan struct{})
	dropHang := atQuit(func() { <-hang; close(hung) })
	defer func() {
		dropHang()
		close(hang)
		<-hung
	}()

	start := time.Now()
	runQuitCleanups(200 * time.Millisecond)
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("quitting waited %s for a cleanup that hangs", waited)
	}
	select {
	case s := <-ran:
		if s != "kept" {
			t.Fatalf("ran the cleanup dropped before the quit")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cleanup registered did not run")
	}
	select {
	case s := <-ran:
		t.Fatalf("ran %q too", s)
	default:
	}
}
