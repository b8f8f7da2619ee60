package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// TestStopBeforeConnectGapNotBackwards: the previous run's last sign of
// life (its spool's modification time) lies ahead of the clock (set by a
// clock that was ahead, since stepped back), and this run is stopped
// before its first connection opens. The window it logs at the stop
// never ends before it begins: it was logged from that future time to
// now, its gap negative, which `soak` takes for a fault.
func TestStopBeforeConnectGapNotBackwards(t *testing.T) {
	bin := buildAgent(t)
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, nil)
	path := filepath.Join(t.TempDir(), "events.spool")
	spoolBatch(t, path, func(d *spool.Disk) { appendEvent(t, d, "a") })
	ahead := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, time.Time{}, ahead); err != nil {
		t.Fatal(err)
	}
	held, release := srv.HoldNextAnswer("GET", "/api/v2/websockets/"+strconv.FormatInt(wsID, 10))
	defer release()
	p := startAgent(t, bin, listenArgs(srv, wsID, h.URL, "--spool", path, "--log-format", "json")...)
	waitHeld(t, p, held)
	p.signal(t, syscall.SIGTERM)
	found := false
	for _, l := range strings.Split(p.stdout.String(), "\n") {
		var line struct {
			Msg  string    `json:"msg"`
			From time.Time `json:"from"`
			To   time.Time `json:"to"`
		}
		if json.Unmarshal([]byte(l), &line) != nil || !strings.HasPrefix(line.Msg, "events sent by Dialpad in this window were missed") {
			continue
		}
		found = true
		if line.To.Before(line.From) {
			t.Errorf("a gap logged with its end before its start:\n%s", l)
		}
	}
	if !found {
		t.Fatalf("no gap logged at the stop:\n%s", p.stdout.String())
	}
}
