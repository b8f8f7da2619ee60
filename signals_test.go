package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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

// TestSecondInterruptQuitsAtOnce: a second interrupt, a second or more
// after the first, ends the real binary at once while the drain still
// waits for a delivery, also when it was started with interrupts ignored
// (as a background job of a script is).
func TestSecondInterruptQuitsAtOnce(t *testing.T) {
	bin := buildAgent(t)
	for _, start := range []struct {
		name string
		wrap func(args []string) []string
	}{
		{"default", func(args []string) []string { return args }},
		{"interrupts ignored", func(args []string) []string {
			return append([]string{"-c", `trap "" INT; exec "$0" "$@"`, bin}, args...)
		}},
	} {
		t.Run(start.name, func(t *testing.T) {
			srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
			release := make(chan struct{})
			arrived := make(chan struct{}, 1)
			h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				arrived <- struct{}{}
				<-release // the drain waits for this answer
			}))
			t.Cleanup(func() {
				close(release)
				h.Close()
			})
			args := listenArgs(srv, wsID, h.URL, "--spool", filepath.Join(t.TempDir(), "events.spool"), "--drain-timeout", "5m", "--timeout", "5m")
			name, args := bin, start.wrap(args)
			if start.name != "default" {
				name = "sh"
			}
			p := startProcess(t, name, args...)
			p.waitConnected(t, srv)
			if srv.Publish("sms", dialpadtest.NewGenerator(3).SMS()).Frames != 1 {
				t.Fatal("event not sent")
			}
			<-arrived
			started := time.Now()
			// Interrupts until the process ends: the first asks for a
			// graceful stop, which waits for the handler; those within a
			// second of it are taken for the same keypress; the next one
			// quits.
			var err error
			for gone := false; !gone; {
				if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
					t.Fatal(err)
				}
				select {
				case err = <-p.exited:
					p.exited <- err
					gone = true
				case <-time.After(200 * time.Millisecond):
				}
				if !gone && time.Since(started) > 20*time.Second {
					t.Fatalf("agent still running 20s into its interrupts\n%s", p.stderr.String())
				}
			}
			// Killed by the interrupt, as a shell expects; with interrupts
			// ignored from the start, exit status 130 instead.
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("exit after a second interrupt: %v, want the interrupt's\n%s", err, p.stderr.String())
			}
			status := exit.Sys().(syscall.WaitStatus)
			killed := status.Signaled() && status.Signal() == syscall.SIGINT
			if start.name == "default" && !killed || start.name != "default" && status.ExitStatus() != 130 {
				t.Fatalf("exit after a second interrupt: %v, want killed by SIGINT (default) or status 130 (interrupts ignored)\n%s", err, p.stderr.String())
			}
			if !strings.Contains(p.stderr.String(), "interrupt again: quitting at once") {
				t.Errorf("stderr:\n%s\nwant the line saying it quits at once", p.stderr.String())
			}
		})
	}
}
