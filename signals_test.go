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

// TestStopSignalsRealBinary: SIGTERM and SIGHUP (the terminal or ssh
// session closed) stop the real binary as an interrupt does: gracefully,
// exit 0, with its last lines and its control socket removed, and a notice
// that names the signal received (SIGHUP used to kill it at once and
// silently, exit 129, leaving the socket; SIGTERM's notice said
// "interrupt again").
func TestStopSignalsRealBinary(t *testing.T) {
	bin := buildAgent(t)
	for _, tc := range []struct {
		sig    syscall.Signal
		notice string
	}{
		{syscall.SIGTERM, "dialpad-tunnel: SIGTERM: stopping; another SIGTERM (or an interrupt) quits at once"},
		{syscall.SIGHUP, "dialpad-tunnel: SIGHUP (the terminal or session closed): stopping as on SIGTERM; SIGTERM or another SIGHUP quits at once"},
	} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
			h := newHook(t, nil)
			path := filepath.Join(t.TempDir(), "ev.spool")
			p := startAgent(t, bin, listenArgs(srv, wsID, h.URL, "--spool", path)...)
			p.waitConnected(t, srv)
			if _, err := os.Stat(path + ".ctl"); err != nil {
				t.Fatalf("control socket of the running agent: %v", err)
			}
			if err := p.signal(t, tc.sig); err != nil {
				t.Fatalf("listen after %v: %v, want exit 0\n%s", tc.sig, err, p.stderr.String())
			}
			if !strings.Contains(p.stderr.String(), tc.notice+"\n") || strings.Contains(p.stderr.String(), "interrupt again") {
				t.Errorf("stderr after %v:\n%s\nwant %q", tc.sig, p.stderr.String(), tc.notice)
			}
			if !strings.Contains(p.stdout.String(), " stopped  received=") {
				t.Errorf("log after %v:\n%s\nwant its stopped line", tc.sig, p.stdout.String())
			}
			if _, err := os.Stat(path + ".ctl"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("control socket after %v: %v, want it removed", tc.sig, err)
			}
		})
	}
}

// TestInterruptedCommandExitStatus: a command a stop signal cuts short
// with an error (a trigger waiting for its answer; an events replay waiting
// for a listen's) exits with 128 + the signal, as a shell expects, not 1.
func TestInterruptedCommandExitStatus(t *testing.T) {
	bin := buildAgent(t)
	arrived := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	defer slow.Close()
	p := startAgent(t, bin, "trigger", "--api-base", slow.URL, "--api-key", "k", "sms")
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("trigger sent nothing")
	}
	err := p.signal(t, syscall.SIGINT)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 {
		t.Fatalf("trigger after an interrupt: %v, want exit status 130\n%s", err, p.stderr.String())
	}
}

// TestHangupIgnoredUnderNohup: a listen started with SIGHUP ignored (nohup,
// or a shell's trap) keeps it ignored: it was asked to outlive its
// terminal. It goes on delivering after a SIGHUP, and stops on SIGTERM.
func TestHangupIgnoredUnderNohup(t *testing.T) {
	bin := buildAgent(t)
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, nil)
	args := listenArgs(srv, wsID, h.URL, "--spool", filepath.Join(t.TempDir(), "ev.spool"))
	p := startProcess(t, "sh", append([]string{"-c", `trap "" HUP; exec "$0" "$@"`, bin}, args...)...)
	p.waitConnected(t, srv)
	// An ignored signal is discarded as it is sent: once Signal returns,
	// a handled one would be on its way, and the stop it began would
	// print its notice before the one of SIGTERM below.
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if srv.Publish("sms", dialpadtest.NewGenerator(5).SMS()).Frames != 1 {
		t.Fatal("event not sent")
	}
	h.waitRequests(t, 1, 30*time.Second)
	if err := p.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("listen after SIGHUP (ignored) and SIGTERM: %v, want exit 0\n%s", err, p.stderr.String())
	}
	if stderr := p.stderr.String(); strings.Contains(stderr, "SIGHUP") || !strings.Contains(stderr, "SIGTERM: stopping") {
		t.Errorf("stderr:\n%s\nwant the SIGTERM notice alone: SIGHUP was ignored at start", stderr)
	}
}
