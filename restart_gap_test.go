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
	args := listenArgs(srv, wsID, h.URL, "--spool", filepath.Join(t.TempDir(), "events.spool"),
		"--log-format", "json", "--drain-timeout", "3s", "--timeout", "1m")

	first := startAgent(t, bin, args...)
	first.waitConnected(t, srv)
	if srv.Publish("sms", dialpadtest.NewGenerator(5).SMS()).Frames != 1 {
		t.Fatal("event not sent")
	}
	<-arrived
	stopAt := time.Now()
	first.signal(t, syscall.SIGTERM) // returns once it exited: the drain ran out
	if drained := time.Since(stopAt); drained < 3*time.Second {
		t.Fatalf("the first run stopped %v after SIGTERM, want its 3 s drain", drained)
	}

	close(release) // the event left pending is delivered at the next start
	second := startAgent(t, bin, args...)
	// Until it logs the gap, with its first connection (polling a
	// condition, with a deadline: the fake may still count the first
	// run's connection, so waiting for one there proves nothing).
	var gap time.Time
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var ok bool
		if gap, ok = restartGap(second.stdout.String()); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted agent logged no gap for the time no agent ran within 20 s\n%s", second.stdout.String())
		}
	}
	second.signal(t, syscall.SIGTERM)
	// The stopped line counts the window too, as the status lines do.
	if out := second.stdout.String(); !strings.Contains(out, `"msg":"stopped"`) || !strings.Contains(out, `"gaps":1,`) {
		t.Errorf("the stopped line does not count the gap (gaps=1):\n%s", out)
	}
	// Reading stops at the signal, once the connection is closed: well
	// within a second here, and the drain ran 3 s after it.
	if gap.Before(stopAt.Add(-time.Second)) || gap.After(stopAt.Add(time.Second)) {
		t.Errorf("restart gap from %s, %v after SIGTERM; want it within a second of it, when reading stopped (the drain ended 3 s later)",
			gap.Format(time.RFC3339Nano), gap.Sub(stopAt).Round(time.Millisecond))
	}
}
