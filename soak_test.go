package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/soak"
)

// runSoak runs the soak scenario through the real `listen` path with the
// same agent settings as the soak command, and logs the report. On failure
// it prints the agent's log lines other than per-event ones.
func runSoak(t *testing.T, cfg soak.Config) soak.Report {
	t.Helper()
	return runSoakTimed(t, cfg, soakTiming{TokenTTL: cfg.TokenTTL, PingInterval: 100 * time.Millisecond, PongWait: 300 * time.Millisecond})
}

// runSoakTimed is runSoak with the agent's ping timing given.
func runSoakTimed(t *testing.T, cfg soak.Config, timing soakTiming) soak.Report {
	t.Helper()
	var out, agentLog syncBuffer
	cfg.Out, cfg.AgentLog = &out, &agentLog
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Duration+30*time.Second)
	defer cancel()
	r, err := soak.Run(ctx, cfg, soakListen(timing))
	if err != nil {
		t.Fatalf("soak: %v", err)
	}
	t.Log(out.String())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent log without per-event lines:\n%s", connectionLines(agentLog.String()))
		}
	})
	return r
}

// connectionLines drops the agent's per-event log lines.
func connectionLines(log string) string {
	var b strings.Builder
	for l := range strings.Lines(log) {
		if !strings.Contains(l, `"msg":"event arrived"`) && !strings.Contains(l, `"msg":"event delivered"`) {
			b.WriteString(l)
		}
	}
	return b.String()
}

// TestSoakRotationLosesNothing is the first acceptance test of issue #4:
// a token lifetime of 1s and 300 events/s for 10s, twice (JSON and JWT
// frames), so the agent rotates a dozen times or more, make-before-break
// about 250ms (a quarter of the lifetime) before each token expires.
// Nothing may be lost or delivered twice, no event may find the fake
// without a connection, and the agent must log no gap.
//
// The margin is the time the agent has to fetch a new URL and open the
// new connection before the fake closes the old one. With a 400ms token
// (a 93ms margin) a loaded machine with -race once took 113ms (the
// rotation timer fired 21ms late, connecting took 92ms) and an event
// found no connection: a test too tight, not a gap (real tokens give the
// agent five minutes).
func TestSoakRotationLosesNothing(t *testing.T) {
	for _, tc := range []struct{ name, secret string }{{"json", ""}, {"jwt", "soak-secret"}} {
		t.Run(tc.name, func(t *testing.T) {
			r := runSoak(t, soak.Config{Duration: 10 * time.Second, TokenTTL: time.Second, Rate: 300, Secret: tc.secret, Seed: 4})
			if r.Published < 600 {
				t.Errorf("only %d events published", r.Published)
			}
			if r.Lost != 0 || r.Unread != 0 || r.Duplicates != 0 || r.Delivered != r.Published {
				t.Errorf("published %d, delivered %d: %d lost, %d unread, %d delivered twice; want each delivered once",
					r.Published, r.Delivered, r.Lost, r.Unread, r.Duplicates)
			}
			if r.Unsent != 0 {
				t.Errorf("%d events found the fake with no connection open (at %v), %d of them at a handover: rotation left a gap", r.Unsent, r.UnsentAt, r.Handover)
			}
			if len(r.Gaps) != 0 || r.GapTime != 0 {
				t.Errorf("agent logged %d gaps, %s in total, want none: %+v", len(r.Gaps), r.GapTime, r.Gaps)
			}
			if r.Rotations() < 10 {
				t.Errorf("%d rotations in 10s with a 1s token, want at least 10", r.Rotations())
			}
		})
	}
}

// gapTolerance is how long before a logged gap an unsent event may be
// published: the fake stops writing to a connection before the agent reads
// the close (or the EOF), and the agent's window starts then.
const gapTolerance = 50 * time.Millisecond

// TestSoakFaultsEveryGapLogged is the second acceptance test of issue #4:
// the same stream with faults every ~250ms (TCP drops, close 1001 and 1011,
// refused handshakes, REST 429 and 500 on refresh, unanswered pings). Every
// event published while the fake had a connection is delivered exactly
// once, except those written to a connection the agent had already given up
// inside a logged gap (see TestSoakUnansweredPingsLoseNothing); and every
// event published with no connection falls in a window the agent logged.
func TestSoakFaultsEveryGapLogged(t *testing.T) {
	r := runSoak(t, soak.Config{
		Duration: 4 * time.Second, TokenTTL: 300 * time.Millisecond, Rate: 300,
		Faults: true, FaultEvery: 250 * time.Millisecond, Seed: 7, GapTolerance: gapTolerance,
	})
	total := 0
	for _, n := range r.Faults {
		total += n
	}
	if total < 8 || len(r.Faults) < 5 {
		t.Errorf("only %d faults of %d kinds injected: %v", total, len(r.Faults), r.Faults)
	}
	if r.Lost != 0 || r.Unread != 0 || r.Duplicates != 0 {
		t.Errorf("published %d to an open connection: %d lost (at %v), %d unread (at %v), %d delivered twice",
			r.Published, r.Lost, r.LostAt, r.Unread, r.UnreadAt, r.Duplicates)
	}
	if r.Delivered != r.Published {
		t.Errorf("delivered %d distinct events, want all %d published", r.Delivered, r.Published)
	}
	if r.Unsent == 0 || len(r.Gaps) == 0 {
		t.Errorf("%d events unsent and %d gaps logged: the faults made no gap, the check below proves nothing", r.Unsent, len(r.Gaps))
	}
	var sum time.Duration
	for _, w := range r.Gaps {
		sum += w.To.Sub(w.From)
		// A window of none is logged when the old connection's end was
		// found only after the new one opened (the server may have closed
		// it before): from == to.
		if w.To.Before(w.From) || w.Why == "" {
			t.Errorf("logged gap %+v: want from <= to and a reason", w)
		}
	}
	if sum != r.GapTime {
		t.Errorf("report gap time %s, logged windows add up to %s", r.GapTime, sum)
	}
	// A window is widened by gapTolerance at both ends: the fake stops
	// writing a moment before the agent notices a close, and starts serving
	// a new connection a moment after the agent sees its handshake answered.
	for _, at := range r.UnsentAt {
		covered := false
		for _, w := range r.Gaps {
			if !at.Before(w.From.Add(-gapTolerance)) && !at.After(w.To.Add(gapTolerance)) {
				covered = true
			}
		}
		if !covered {
			t.Errorf("event published at %s with no connection open is in no logged gap", at.Format(time.RFC3339Nano))
		}
	}
	if r.Unlogged != 0 {
		t.Errorf("report counts %d unlogged unsent events", r.Unlogged)
	}
}

// TestSoakUnansweredPingsLoseNothing is the strict reading of the second
// acceptance criterion for the one fault where it fails today: the fake
// still holds a connection whose pings it ignores, so events it writes
// there after the agent's pong deadline are "published while a connection
// was open", but the agent has stopped reading it.
//
// Its timing is three times the other soak tests': a 1s pong deadline and
// a 1.2s fault, so the suspect connection dies while the replacement opened
// at half the deadline outlives the fault. With 300ms, a loaded test run
// could hold a reader off the CPU past its deadline. (It then lost the
// frames already in its socket; it now reads them before it stops, see
// agent.TestPongDeadlineReadsFramesAlreadyArrived.)
func TestSoakUnansweredPingsLoseNothing(t *testing.T) {
	r := runSoakTimed(t, soak.Config{
		Duration: 10 * time.Second, TokenTTL: 4 * time.Second, Rate: 500,
		// Faults 1.3s or more apart: one ends before the next begins.
		Faults: true, FaultEvery: 2600 * time.Millisecond, Kinds: []string{soak.FaultNoPong}, Seed: 3, PongOff: 1200 * time.Millisecond, Settle: 3 * time.Second,
	}, soakTiming{TokenTTL: 4 * time.Second, PingInterval: 250 * time.Millisecond, PongWait: time.Second})
	if r.Faults[soak.FaultNoPong] < 3 {
		t.Errorf("only %d unanswered-ping faults", r.Faults[soak.FaultNoPong])
	}
	if r.Lost+r.Unread != 0 || r.Duplicates != 0 {
		t.Errorf("published %d to a connection the fake held open: %d never delivered (%d unread, at %v), %d delivered twice",
			r.Published, r.Lost+r.Unread, r.Unread, r.UnreadAt, r.Duplicates)
	}
}

// TestSoakCommand runs `soak` as a user would: it prints the report and
// exits 0 when nothing was lost.
func TestSoakCommand(t *testing.T) {
	r := start(t, "soak", "--duration", "1s", "--token-ttl", "300ms", "--rate", "200", "--faults", "--fault-every", "300ms", "--seed", "2")
	if err := r.wait(t, 60*time.Second); err != nil {
		t.Fatalf("soak: %v\n%s", err, r.stdout.String())
	}
	out := r.stdout.String()
	for _, want := range []string{"soak report", "lost                0", "duplicates          0", "unlogged            0", "faults  ", "OK: every event"} {
		mustContain(t, out, want)
	}
}
