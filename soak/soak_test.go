package soak

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestGapLogReadsTheAgentsGapLines feeds JSON log lines, split at odd
// places, and checks that exactly the gap windows come out.
func TestGapLogReadsTheAgentsGapLines(t *testing.T) {
	from := time.Date(2026, 1, 2, 3, 4, 5, 100e6, time.UTC)
	to := from.Add(37 * time.Millisecond)
	log := fmt.Sprintf(`{"time":%q,"level":"INFO","msg":"connected","conn":"websocket 1000 #2"}
{"time":%q,"level":"INFO","msg":"event arrived","detail":%q}
{"time":%q,"level":"WARN","msg":%q,"source":"websocket 1000","from":%q,"to":%q,"gap":"37ms","why":"closed by server: 1011"}
`, to.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), GapMessage, to.Format(time.RFC3339Nano), GapMessage,
		from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
	var tee strings.Builder
	g := newGapLog(&tee)
	for i := 0; i < len(log); i += 7 {
		if _, err := g.Write([]byte(log[i:min(i+7, len(log))])); err != nil {
			t.Fatal(err)
		}
	}
	gaps, connected := g.windows()
	want := Window{From: from, To: to, Why: "closed by server: 1011"}
	if len(gaps) != 1 || !gaps[0].From.Equal(want.From) || !gaps[0].To.Equal(want.To) || gaps[0].Why != want.Why {
		t.Errorf("gaps = %+v, want only %+v (an event line quoting the message is not a gap)", gaps, want)
	}
	if len(connected) != 1 || !connected[0].Equal(to) {
		t.Errorf("connected = %v, want [%s]", connected, to)
	}
	if tee.String() != log {
		t.Errorf("tee got %q, want the log unchanged", tee.String())
	}
}

// TestUncovered checks which unsent events fall outside the logged gaps.
func TestUncovered(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	gaps := []Window{{From: ms(100), To: ms(200)}, {From: ms(500), To: ms(510)}}
	at := []time.Time{ms(50), ms(95), ms(100), ms(150), ms(200), ms(204), ms(206), ms(505), ms(700)}
	got := Uncovered(at, gaps, 5*time.Millisecond)
	want := []time.Time{ms(50), ms(206), ms(700)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Uncovered = %v, want %v", got, want)
	}
}

// TestVerdictWithNothingPublished: a run that published no event to an
// open connection fails (OK wants one), and its verdict says why, not that
// events were lost or delivered twice, which none was.
func TestVerdictWithNothingPublished(t *testing.T) {
	var b strings.Builder
	Report{Unsent: 12, Gaps: []Window{{}}}.print(&b)
	out := b.String()
	if !strings.Contains(out, "FAILED: no event was published to an open connection") || strings.Contains(out, "lost or delivered twice") {
		t.Errorf("verdict with nothing published:\n%s", out)
	}
}

// TestBackwardsGapFails: a gap logged with its end before its start (the
// agent stamped a connection's end after its replacement opened) fails
// the run, though every event is accounted for.
func TestBackwardsGapFails(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := &publisher{sent: []published{{at: t0}}}
	rc := newReceiver()
	rc.arrived[p.sent[0].sum] = t0.Add(time.Millisecond)
	gaps := []Window{{From: t0.Add(2 * time.Second), To: t0.Add(2*time.Second - 77*time.Microsecond)}}
	r := newReport(Config{GapTolerance: time.Millisecond}, p, rc, gaps, nil, 2)
	if r.Backwards != 1 || r.OK() {
		t.Errorf("a gap ending before it began: Backwards %d, OK %v; want 1, false", r.Backwards, r.OK())
	}
	var b strings.Builder
	r.print(&b)
	if !strings.Contains(b.String(), "1 ending before they began") || !strings.Contains(b.String(), "FAILED") {
		t.Errorf("report of a backwards gap:\n%s", b.String())
	}
	gaps[0].To = gaps[0].From // a window of none is no fault
	if r := newReport(Config{GapTolerance: time.Millisecond}, p, rc, gaps, nil, 2); r.Backwards != 0 || !r.OK() {
		t.Errorf("a gap of length 0: Backwards %d, OK %v; want 0, true", r.Backwards, r.OK())
	}
}
