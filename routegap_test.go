package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestRestartGapWithNewRouteFiles: a run whose routes all start spool files
// of their own (both call handlers moved, so neither takes the file of the
// previous run's handler) still logs the time since the previous run as a
// gap. It looked only at the files it opened, all new, and logged none.
func TestRestartGapWithNewRouteFiles(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	old := newHook(t, nil)
	b, c := newHook(t, nil), newHook(t, nil)
	base := filepath.Join(t.TempDir(), "gap.spool")
	args := func(urls ...string) []string {
		a := listenArgs(srv, wsID, "", "--spool", base, "--events", "call")
		for _, u := range urls {
			a = append(a, "--route", "call="+u)
		}
		return a
	}
	r := start(t, args(old.URL)...)
	r.waitConnected(t, srv, 1)
	if err := r.stop(t); err != nil {
		t.Fatalf("run 1: %v", err)
	}

	r = start(t, args(b.URL+"/b", c.URL+"/c")...)
	r.stdout.waitFor(t, "connected", 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("run 2: %v", err)
	}
	out := r.stdout.String()
	mustContain(t, out, "call-2=")
	if !strings.Contains(out, "were missed") || !strings.Contains(out, "no agent was running") {
		t.Errorf("the second run, on new route files, logged no gap for the time no agent ran:\n%s", out)
	}
}
