package main

import (
	"errors"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestListenExitsLostWhenEventsWereLost: the real binary, stopped as asked,
// exits 0 when it kept everything, and exitLost with a message that counts
// them when events were lost: left in memory with --no-spool, or refused
// as larger than --max-frame-bytes.
func TestListenExitsLostWhenEventsWereLost(t *testing.T) {
	bin := buildAgent(t)
	gen := dialpadtest.NewGenerator(7)

	t.Run("no-spool, handler failing", func(t *testing.T) {
		srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
		h := newHook(t, func(int) int { return http.StatusServiceUnavailable })
		p := startAgent(t, bin, listenArgs(srv, wsID, h.URL, "--no-spool", "--drain-timeout", "1s")...)
		p.waitConnected(t, srv)
		for range 2 {
			if srv.Publish("sms", gen.SMS()).Frames != 1 {
				t.Fatal("event not sent")
			}
		}
		h.waitRequests(t, 2, 10*time.Second) // both reached the agent
		err := p.signal(t, syscall.SIGTERM)
		wantExit(t, err, exitLost, p.stderr.String(), "events were lost: 2 undelivered and not kept (in memory with --no-spool, or not queued)")
	})

	t.Run("spool, frame too large", func(t *testing.T) {
		srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
		h := newHook(t, nil)
		p := startAgent(t, bin, listenArgs(srv, wsID, h.URL, "--spool", filepath.Join(t.TempDir(), "events.spool"), "--max-frame-bytes", "1024")...)
		p.waitConnected(t, srv)
		big := `{"event_type":"sms","id":1,"text":"` + strings.Repeat("x", 2048) + `"}`
		if srv.Publish("sms", []byte(big)).Frames != 1 {
			t.Fatal("event not sent")
		}
		// The agent refuses the frame, and the connection goes on: the next
		// event on it is delivered.
		if srv.Publish("sms", gen.SMS()).Frames != 1 {
			t.Fatal("event not sent")
		}
		h.waitRequests(t, 1, 10*time.Second)
		if n := srv.Handshakes(); n != 1 {
			t.Errorf("%d connections, want 1: a frame too large does not end its connection", n)
		}
		err := p.signal(t, syscall.SIGINT)
		wantExit(t, err, exitLost, p.stderr.String(), "events were lost: 1 refused as larger than --max-frame-bytes")
	})

	t.Run("nothing lost", func(t *testing.T) {
		srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
		h := newHook(t, nil)
		p := startAgent(t, bin, listenArgs(srv, wsID, h.URL, "--no-spool")...)
		p.waitConnected(t, srv)
		if srv.Publish("sms", gen.SMS()).Frames != 1 {
			t.Fatal("event not sent")
		}
		h.waitRequests(t, 1, 10*time.Second)
		if err := p.signal(t, syscall.SIGTERM); err != nil {
			t.Fatalf("listen with every event delivered: %v, want exit 0\n%s", err, p.stderr.String())
		}
	})
}

// wantExit checks that err is an exit with status code and that stderr
// says want.
func wantExit(t *testing.T, err error, code int, stderr, want string) {
	t.Helper()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != code {
		t.Fatalf("listen: %v, want exit status %d\nstderr:\n%s", err, code, stderr)
	}
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr:\n%s\nwant it to say %q", stderr, want)
	}
	if strings.Contains(stderr, "panic") {
		t.Errorf("stderr has a panic:\n%s", stderr)
	}
}
