package agent

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// gapMsg is the warning that logs a window with no open connection.
const gapMsg = "events sent by Dialpad in this window were missed (no open connection)"

// TestOpenGapCountsWhileOpen: a window with no open connection counts in
// Stats (what the status line, `status` and the metrics show) as soon as it
// opens, its time growing while it lasts; once the connection is back it
// is still one window, as long as the one logged. The totals used to move
// only at the reconnect: gaps=0 all through an outage, while events were
// being lost.
func TestOpenGapCountsWhileOpen(t *testing.T) {
	fake := newFake(t, dialpadtest.Config{})
	wsID := fake.AddWebsocket("")
	addSub(t, fake, "sms", wsID)
	recv := newReceiver(t, nil)
	cfg := testConfig()
	cfg.StatusInterval = 20 * time.Millisecond
	r := startAgent(t, cfg, recv.url, WebsocketSource(newClient(t, fake, fake.APIKey()), dialpad.ID(wsID)))
	waitConnected(t, r)
	if st := r.a.Stats(); st.Gaps != 0 || st.GapTime != 0 {
		t.Fatalf("connected: gaps %d, gap time %s; want none", st.Gaps, st.GapTime)
	}

	waitConns(t, fake, 1) // the fake has it too: the drop reaches it
	fake.RefuseNextHandshakes(1_000_000, http.StatusServiceUnavailable)
	fake.DropConnectionsAbruptly()
	waitUntil(t, testWait, func() bool { return r.a.Stats().Gaps == 1 },
		func() string {
			return fmt.Sprintf("stats %+v during the gap, want 1 gap; log:\n%s", r.a.Stats(), r.logs)
		})
	// Its time grows while it lasts, and it stays one window whatever the
	// reconnects that fail meanwhile.
	first := r.a.Stats().GapTime
	const grown = 100 * time.Millisecond
	waitUntil(t, testWait, func() bool { return r.a.Stats().GapTime >= first+grown },
		func() string {
			return fmt.Sprintf("stats %+v, want the gap time %s past %s", r.a.Stats(), grown, first)
		})
	r.logs.waitFind(t, 2, "WARN", "connect failed")
	if st := r.a.Stats(); st.Gaps != 1 || st.Connected != 0 {
		t.Fatalf("stats %+v during the gap: want 1 gap, no connection", st)
	}
	// The status line shows it while it is open.
	waitUntil(t, testWait, func() bool {
		for _, l := range r.logs.find(t, "INFO", "status") {
			if l["state"] == "NOT CONNECTED" && l["gaps"] == float64(1) && l["gap_time"] != "0s" {
				return true
			}
		}
		return false
	}, func() string { return "no status line with gaps=1 while not connected:\n" + r.logs.String() })
	if n := len(r.logs.find(t, "WARN", gapMsg)); n != 0 {
		t.Fatalf("the gap was logged before it ended; log:\n%s", r.logs)
	}
	during := r.a.Stats().GapTime

	fake.RefuseNextHandshakes(0, 0)
	gaps := r.logs.waitFind(t, 1, "WARN", gapMsg)
	from, err1 := time.Parse(time.RFC3339Nano, gaps[0].str("from"))
	to, err2 := time.Parse(time.RFC3339Nano, gaps[0].str("to"))
	if err1 != nil || err2 != nil {
		t.Fatalf("gap line from %q to %q: %v %v", gaps[0].str("from"), gaps[0].str("to"), err1, err2)
	}
	window := to.Sub(from)
	st := r.a.Stats()
	// Counted once; its time the window's, give or take the status line's
	// read between the connection's opening and its count (a few µs).
	if st.Gaps != 1 || st.GapTime < window || st.GapTime > window+grown/2 || st.GapTime < during {
		t.Errorf("after the gap: gaps %d, gap time %s; want 1 gap of the %s logged (and at least the %s seen during it)",
			st.Gaps, st.GapTime, window, during)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if st := r.a.Stats(); st.Gaps != 1 || st.GapTime > window+grown/2 {
		t.Errorf("stopped: gaps %d, gap time %s; want the one gap of %s", st.Gaps, st.GapTime, window)
	}
}

// TestGapTallyCountsOpenWindowsOnce: an open window counts at once and
// grows with the time read; ending it keeps it one window, of the length
// given, and the total never goes down, not even when the window ends a
// little before a time it was read at (its connection opened, then the
// totals were read, then the run goroutine ended it).
func TestGapTallyCountsOpenWindowsOnce(t *testing.T) {
	var g gapTally
	a, b := &source{}, &source{}
	t0 := time.Now()
	check := func(at time.Time, wantN int64, wantD time.Duration) {
		t.Helper()
		if n, d := g.totals(at); n != wantN || d != wantD {
			t.Errorf("totals at +%s: %d windows, %s; want %d, %s", at.Sub(t0), n, d, wantN, wantD)
		}
	}
	check(t0, 0, 0)
	g.begin(a, t0)
	check(t0, 1, 0)
	check(t0.Add(time.Second), 1, time.Second)
	g.begin(a, t0) // once only
	g.begin(b, t0.Add(time.Second))
	check(t0.Add(2*time.Second), 2, 3*time.Second)
	g.end(a, 1500*time.Millisecond) // ended at +1.5 s, read at +2 s before
	check(t0.Add(2*time.Second), 2, 3*time.Second)
	check(t0.Add(3*time.Second), 2, 3500*time.Millisecond)
	g.end(b, 3*time.Second)
	g.add(time.Second) // a silent connection's window, known once it ended
	check(t0.Add(time.Hour), 3, 5500*time.Millisecond)
}
