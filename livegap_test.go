package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// gapMsg is the warning that logs a window with no open connection.
const gapMsg = "events sent by Dialpad in this window were missed (no open connection)"

// gapReport is what `status --json` says of gaps and connections.
type gapReport struct {
	Connected bool   `json:"connected"`
	Gaps      int64  `json:"gaps"`
	GapTime   string `json:"gap_time"`
}

// statusGaps asks the listen on spool for its gaps; the text report too.
func statusGaps(t *testing.T, spool string) (gapReport, string) {
	t.Helper()
	var g gapReport
	out, _ := runCmd(t, "status", "--spool", spool, "--json") // exits 1 while not connected
	if err := json.Unmarshal([]byte(out), &g); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	text, _ := runCmd(t, "status", "--spool", spool)
	return g, text
}

// logLines are the lines of a JSON log whose msg is msg.
func logLines(t *testing.T, log, msg string) []map[string]any {
	t.Helper()
	var found []map[string]any
	for _, line := range strings.Split(log, "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) == nil && l["msg"] == msg {
			found = append(found, l)
		}
	}
	return found
}

// TestGapShownWhileOpen: during an outage (the connection lost, every
// reconnect refused) the status line, `status` (text and --json) and the
// metrics already count the window and its time so far, all alike; once
// the connection is back it is still one window, as long as the one
// logged. They counted a window only once it had ended: gaps=0 while
// events were being lost, exactly when an operator looks.
func TestGapShownWhileOpen(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, nil)
	spool := filepath.Join(t.TempDir(), "g.spool")
	r := start(t, listenArgs(srv, wsID, h.URL, "--spool", spool, "--metrics-addr", "127.0.0.1:0", "--log-format", "json",
		"--status-interval", "100ms", "--reconnect-wait-min", "10ms", "--reconnect-wait-max", "50ms")...)
	r.waitConnected(t, srv, 1)
	url := metricsURL(t, r)
	metric := func(name string) float64 { _, body := get(t, url); return metricValue(body, name) }
	if g, _ := statusGaps(t, spool); g.Gaps != 0 || metric("dialpad_tunnel_gaps_total") != 0 {
		t.Fatalf("connected: status %+v, metrics gaps %v; want no gap", g, metric("dialpad_tunnel_gaps_total"))
	}

	srv.RefuseNextHandshakes(1_000_000, http.StatusServiceUnavailable)
	srv.DropConnectionsAbruptly()
	var during gapReport
	deadline := time.Now().Add(10 * time.Second)
	for {
		var text string
		during, text = statusGaps(t, spool)
		if !during.Connected && during.Gaps == 1 && during.GapTime != "0s" && strings.Contains(text, "  gaps 1 (") &&
			metric("dialpad_tunnel_gaps_total") == 1 && metric("dialpad_tunnel_gap_seconds_total") > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("during the gap: status %+v\n%s\nmetrics gaps %v, %v s; want the open gap counted\n%s", during, text,
				metric("dialpad_tunnel_gaps_total"), metric("dialpad_tunnel_gap_seconds_total"), r.stdout.String())
		}
		<-time.After(20 * time.Millisecond) // polls a condition with a deadline
	}
	// Its time grows while it lasts, and every reader has the same: status
	// read between two scrapes lies between them (rounded to the ms).
	first := metric("dialpad_tunnel_gap_seconds_total")
	before := first
	deadline = time.Now().Add(10 * time.Second)
	for {
		g, _ := statusGaps(t, spool)
		after := metric("dialpad_tunnel_gap_seconds_total")
		shown, err := time.ParseDuration(g.GapTime)
		if err != nil || g.Gaps != 1 || shown.Seconds() < before-0.001 || shown.Seconds() > after+0.001 {
			t.Fatalf("status %+v between scrapes of %v s and %v s: want 1 gap, its time between them", g, before, after)
		}
		if after >= first+0.1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gap time %v s, then %v s: not growing during the gap", first, after)
		}
		before = after
		<-time.After(20 * time.Millisecond) // polls a condition with a deadline
	}
	r.stdout.waitFor(t, `"gaps":1,"gap_time"`, 10*time.Second) // the status line
	for _, l := range logLines(t, r.stdout.String(), "status") {
		if l["gaps"] == float64(1) && l["state"] != "NOT CONNECTED" {
			t.Errorf("status line with the gap counted while connected: %v", l)
		}
	}
	if lines := logLines(t, r.stdout.String(), gapMsg); len(lines) != 0 {
		t.Fatalf("gap logged while still open: %v", lines)
	}

	srv.RefuseNextHandshakes(0, 0)
	r.stdout.waitFor(t, gapMsg, 10*time.Second)
	lines := logLines(t, r.stdout.String(), gapMsg)
	from, err1 := time.Parse(time.RFC3339Nano, fmt.Sprint(lines[0]["from"]))
	to, err2 := time.Parse(time.RFC3339Nano, fmt.Sprint(lines[0]["to"]))
	if len(lines) != 1 || err1 != nil || err2 != nil {
		t.Fatalf("gap lines %v: want one, with from and to", lines)
	}
	window := to.Sub(from).Seconds()
	g, _ := statusGaps(t, spool)
	gaps, secs := metric("dialpad_tunnel_gaps_total"), metric("dialpad_tunnel_gap_seconds_total")
	// Counted once, its time the window's (give or take a read between the
	// connection's opening and its count: a few µs).
	if g.Gaps != 1 || gaps != 1 || secs < window-0.001 || secs > window+0.05 {
		t.Errorf("after the gap: status %+v, metrics %v gaps of %v s; want 1 gap of the %v s logged", g, gaps, secs, window)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
}
