package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestRestartGapStartsWhenReadingStopped: after a clean stop whose drain
// takes a while (a delivery in flight that the handler holds), the next
// start's gap begins about when the stopped run stopped reading, not when
// its drain ended. It began at the spool's last write, after the drain:
// a soak saw 432 events sent during a 2.4 s drain fall outside any logged
// gap.
func TestRestartGapStartsWhenReadingStopped(t *testing.T) {
	bin := buildAgent(t)
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-release // the first run's drain waits for this answer, until its drain timeout
	}))
	defer h.Close()
	const drain = 3 * time.Second
	args := listenArgs(srv, wsID, h.URL, "--spool", filepath.Join(t.TempDir(), "events.spool"),
		"--log-format", "json", "--drain-timeout", drain.String(), "--timeout", "1m")

	first := startAgent(t, bin, args...)
	first.waitConnected(t, srv)
	if srv.Publish("sms", dialpadtest.NewGenerator(5).SMS()).Frames != 1 {
		t.Fatal("event not sent")
	}
	<-arrived
	stopAt := time.Now()
	first.signal(t, syscall.SIGTERM) // returns once it exited: the drain ran out
	if drained := time.Since(stopAt); drained < drain {
		t.Fatalf("the first run stopped %v after SIGTERM, want its %v drain", drained, drain)
	}

	close(release) // the event left pending is delivered at the next start
	second := startAgent(t, bin, args...)
	// Until it logs the gap, with its first connection (polling a
	// condition, with a deadline: the fake may still count the first
	// run's connection, so waiting for one there proves nothing).
	gap := waitRestartGap(t, second, "the restarted agent logged no gap for the time no agent ran")
	second.signal(t, syscall.SIGTERM)
	// The stopped line counts the window too, as the status lines do.
	if out := second.stdout.String(); !strings.Contains(out, `"msg":"stopped"`) || !strings.Contains(out, `"gaps":1,`) {
		t.Errorf("the stopped line does not count the gap (gaps=1):\n%s", out)
	}
	// Reading stops at the signal, once the connection is closed
	// (milliseconds later here), and the drain ran for drain after it: the
	// end of the drain, and the spool's last write, come no earlier than
	// stopAt+drain, however slow the machine. A gap nearer the signal than
	// that began when reading stopped; the second before it is for the
	// file's modification time, which may be coarser than the clock.
	if gap.Before(stopAt.Add(-time.Second)) || !gap.Before(stopAt.Add(drain/2)) {
		t.Errorf("restart gap from %s, %v after SIGTERM; want it before %v after it, when reading stopped (the drain ended %v later)",
			gap.Format(time.RFC3339Nano), gap.Sub(stopAt).Round(time.Millisecond), drain/2, drain)
	}
}
