package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestSpoolReplacedUnderListen: the real binary's spool file is moved away
// and another file put at its path while events wait for a handler that is
// down. The stop no longer says they are left for the next start (they are
// not at the path), and exits with the status of lost events, naming the
// file; the file at the path is left as it is.
func TestSpoolReplacedUnderListen(t *testing.T) {
	bin := buildAgent(t)
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, func(int) int { return http.StatusServiceUnavailable })
	path := filepath.Join(t.TempDir(), "ev.spool")
	p := startAgent(t, bin, listenArgs(srv, wsID, h.URL, "--spool", path)...)
	p.waitConnected(t, srv)
	gen := dialpadtest.NewGenerator(9)
	for range 3 {
		if srv.Publish("sms", gen.SMS()).Frames != 1 {
			t.Fatal("event not sent")
		}
	}
	h.waitRequests(t, 3, 30*time.Second) // each stored and tried: pending
	if err := os.Rename(path, path+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("an old copy"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := p.signal(t, syscall.SIGTERM)
	wantExit(t, err, exitLost, p.stderr.String(), "the path names another file now")
	if out := p.stdout.String(); strings.Contains(out, "events left in the spool for the next start") {
		t.Errorf("the stop says events are left for the next start, though they are not at the path:\n%s", out)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "an old copy" {
		t.Fatalf("the file at the path: %q, %v; want it untouched", b, err)
	}
}
