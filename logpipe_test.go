package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestClosedLogPipeRealBinary: a listen whose stdout and stderr pipe
// closes (`listen 2>&1 | head -1`, a log shipper that died) is not killed
// by SIGPIPE at its next log line: it goes on delivering, and SIGTERM
// stops it as usual, exit 0, with its control socket removed and, with
// --create, what it made deleted (found by a black-box review: exit 141,
// the socket and the websocket left behind).
func TestClosedLogPipeRealBinary(t *testing.T) {
	bin := buildAgent(t)
	// An in-process listen of an earlier test ignored SIGPIPE, and a child
	// inherits an ignored signal: the binary would pass without its fix.
	signal.Reset(syscall.SIGPIPE)
	for _, create := range []bool{false, true} {
		name := "websocket-id"
		if create {
			name = "create"
		}
		t.Run(name, func(t *testing.T) {
			h := newHook(t, nil)
			path := filepath.Join(t.TempDir(), "ev.spool")
			var srv *dialpadtest.Server
			var args []string
			if create {
				srv = newFake(t, dialpadtest.Config{})
				args = createArgs(srv, h.URL, "--events", "sms", "--spool", path)
			} else {
				var wsID int64
				srv, wsID = fakeDialpad(t, dialpadtest.Config{}, "")
				args = listenArgs(srv, wsID, h.URL, "--spool", path)
			}
			p := startPiped(t, bin, args...)

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.WaitConnections(ctx, 1); err != nil {
				t.Fatalf("agent did not connect after its log pipe closed: %v (%s)", err, p.state())
			}
			gen := dialpadtest.NewGenerator(7)
			for range 3 {
				if srv.Publish("sms", gen.SMS()).Frames != 1 {
					t.Fatalf("event not sent (%s)", p.state())
				}
			}
			h.waitRequests(t, 3, 30*time.Second)
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := p.wait(t, 30*time.Second); err != nil {
				t.Fatalf("listen with its log pipe closed, after SIGTERM: %v, want exit 0", err)
			}
			if _, err := os.Stat(path + ".ctl"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("control socket after SIGTERM: %v, want it removed", err)
			}
			if create {
				if ws, subs := counts(t, srv); ws != 0 || subs != 0 {
					t.Errorf("after SIGTERM the fake holds %d websockets and %d subscriptions, want what --create made deleted", ws, subs)
				}
			}
		})
	}
}

// startPiped starts bin with args, its stdout and stderr on one pipe, reads
// its first line from it and closes it, as `bin args 2>&1 | head -1` does.
func startPiped(t *testing.T, bin string, args ...string) *blockedProcess {
	t.Helper()
	p := startBlocked(t, bin, args...)
	line, err := p.lines.ReadString('\n')
	p.out.Close()
	if err != nil {
		t.Fatalf("first line of the agent: %q, %v", line, err)
	}
	return p
}
