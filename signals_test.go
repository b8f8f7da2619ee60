package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestInterruptRealBinary: the real binary stops gracefully on an
// interrupt (exit 0) and says that another one quits at once; a command
// that ends by itself says nothing of the kind.
func TestInterruptRealBinary(t *testing.T) {
	bin := buildAgent(t)
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, nil)
	p := startAgent(t, bin, listenArgs(srv, wsID, h.URL, "--spool", filepath.Join(t.TempDir(), "events.spool"))...)
	p.waitConnected(t, srv)
	if err := p.signal(t, syscall.SIGINT); err != nil {
		t.Fatalf("listen after one interrupt: %v, want exit 0\n%s", err, p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), "dialpad-tunnel: stopping; interrupt again to quit at once") {
		t.Errorf("stderr after an interrupt:\n%s\nwant the line saying another one quits at once", p.stderr.String())
	}

	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || strings.Contains(string(out), "interrupt") {
		t.Errorf("dialpad-tunnel --version: %v\n%s\nwant it to end with no word of stopping", err, out)
	}
}
