package soak

import (
	"fmt"
	"github.com/dialpad-tunnel/dialpad-tunnel/demo"
	"io"
	"slices"
	"strings"
	"time"
)

// Report is what one soak run saw.
type Report struct {
	Published   int            // events the fake wrote to at least one open connection
	Unsent      int            // events published while the fake had no connection (lost by Dialpad's design)
	Delivered   int            // distinct events the handler received
	Lost        int            // published to an open connection but never delivered (Unread excluded)
	Unread      int            // never delivered, written to a connection the agent had given up after a pong timeout (in or just before that logged gap)
	Duplicates  int            // deliveries of an event already delivered
	Connections int            // websocket handshakes; rotations and reconnects are Connections-1
	Faults      map[string]int // faults injected, by kind (FaultKinds)
	Gaps        []Window       // windows without a connection, as logged by the agent
	GapTime     time.Duration  // total length of Gaps
	Backwards   int            // logged gaps whose end is before their start
	Handover    int            // unsent events in no logged gap but within GapTolerance of a new connection: the agent closed the old one before the fake served the new one
	Unlogged    int            // unsent events that no logged gap covers and that are no Handover (within Config.GapTolerance)
	P50, P99    time.Duration  // publish -> handler latency of delivered events
	UnsentAt    []time.Time    // when each unsent event was published
	LostAt      []time.Time    // when each lost event was published
	UnreadAt    []time.Time    // when each unread event was published
	HandoverAt  []time.Time    // when each handover event was published
	UnloggedAt  []time.Time    // when each unlogged event was published
}

// OK reports whether every event published while a connection was open
// was delivered exactly once, every unsent event fell in a logged gap and
// no gap ended before it began.
func (r Report) OK() bool {
	return r.Published > 0 && r.Lost == 0 && r.Unread == 0 && r.Duplicates == 0 && r.Unlogged == 0 && r.Handover == 0 && r.Backwards == 0
}

// Rotations is the number of connections after the first.
func (r Report) Rotations() int { return max(r.Connections-1, 0) }

func newReport(cfg Config, p *publisher, rc *receiver, gaps []Window, connected []time.Time, handshakes int) Report {
	r := Report{
		Published:   len(p.sent),
		Unsent:      len(p.unsent),
		Connections: handshakes,
		Faults:      map[string]int{},
		Gaps:        gaps,
		UnsentAt:    p.unsent,
	}
	if p.inj != nil {
		r.Faults = p.inj.count
	}
	lat := make([]time.Duration, 0, len(p.sent))
	for _, s := range p.sent {
		at, ok := rc.arrivedAt(s.sum)
		switch {
		case ok:
		case afterPongTimeout(s.at, gaps, cfg.GapTolerance):
			r.Unread++
			r.UnreadAt = append(r.UnreadAt, s.at)
			continue
		default:
			r.Lost++
			r.LostAt = append(r.LostAt, s.at)
			continue
		}
		lat = append(lat, at.Sub(s.at))
	}
	r.Delivered, r.Duplicates = rc.counts()
	r.P50, r.P99 = demo.Percentile(lat, 50), demo.Percentile(lat, 99)
	for _, w := range gaps {
		r.GapTime += w.To.Sub(w.From)
		if w.To.Before(w.From) {
			r.Backwards++
		}
	}
	for _, t := range Uncovered(p.unsent, gaps, cfg.GapTolerance) {
		if slices.ContainsFunc(connected, func(c time.Time) bool { return t.Sub(c).Abs() <= cfg.GapTolerance }) {
			r.Handover++
			r.HandoverAt = append(r.HandoverAt, t)
			continue
		}
		r.Unlogged++
		r.UnloggedAt = append(r.UnloggedAt, t)
	}
	return r
}

// PongTimeoutReason is the agent's why for a connection it ended because
// no pong came within PongWait. If the agent words it differently, the
// events it did not read are counted as Lost, not Unread.
const PongTimeoutReason = "no pong within the deadline"

// afterPongTimeout reports whether t falls in a gap logged for a pong
// timeout, or up to tol before it: the agent stops reading when the
// deadline passes and starts the logged window only a moment later.
func afterPongTimeout(t time.Time, gaps []Window, tol time.Duration) bool {
	return slices.ContainsFunc(gaps, func(w Window) bool {
		return w.Why == PongTimeoutReason && t.After(w.From.Add(-tol)) && t.Before(w.To)
	})
}

// Uncovered returns the times in at that fall in no window of gaps widened
// by tol on both sides.
func Uncovered(at []time.Time, gaps []Window, tol time.Duration) []time.Time {
	var out []time.Time
	for _, t := range at {
		if !slices.ContainsFunc(gaps, func(w Window) bool {
			return !t.Before(w.From.Add(-tol)) && !t.After(w.To.Add(tol))
		}) {
			out = append(out, t)
		}
	}
	return out
}

func (r Report) print(w io.Writer) {
	faults, total := "none", 0
	if len(r.Faults) > 0 {
		var parts []string
		for _, k := range FaultKinds {
			if n := r.Faults[k]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", k, n))
				total += n
			}
		}
		faults = strings.Join(parts, ", ")
	}
	verdict := "OK: every event published while a connection was open was delivered once; every gap was logged"
	switch {
	case r.Published == 0:
		verdict = "FAILED: no event was published to an open connection, so nothing was checked (faults too frequent for --duration?)"
	case !r.OK():
		verdict = "FAILED: events lost or delivered twice, or a gap went unlogged (or was logged ending before it began)"
	}
	fmt.Fprintf(w, "\nsoak report\n"+
		"  published     %7d  (to an open connection)\n"+
		"  unsent        %7d  (published while no connection was open: gone, by Dialpad's design)\n"+
		"  delivered     %7d\n"+
		"  lost          %7d  (published to an open connection, never delivered)\n"+
		"  unread        %7d  (written to a connection the agent gave up on a missed pong, never read)\n"+
		"  duplicates    %7d  (delivered more than once)\n"+
		"  connections   %7d  (rotations and reconnects: %d)\n"+
		"  faults        %7d  (%s)\n"+
		"  gaps logged   %7d  (total %s without a connection; %d ending before they began)\n"+
		"  handover      %7d  (unsent at a make-before-break handover: no connection at the fake, no gap logged)\n"+
		"  unlogged      %7d  (other unsent events outside every logged gap)\n"+
		"  latency       p50 %s  p99 %s (publish -> handler)\n"+
		"  %s\n",
		r.Published, r.Unsent, r.Delivered, r.Lost, r.Unread, r.Duplicates,
		r.Connections, r.Rotations(), total, faults,
		len(r.Gaps), r.GapTime.Round(time.Millisecond), r.Backwards, r.Handover, r.Unlogged,
		r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), verdict)
	listTimes(w, "lost", r.LostAt)
	listTimes(w, "unread", r.UnreadAt)
	listTimes(w, "handover", r.HandoverAt)
	listTimes(w, "unlogged", r.UnloggedAt)
}

// listTimes prints when the first few events of a kind were published.
func listTimes(w io.Writer, what string, ts []time.Time) {
	for i, t := range ts {
		if i == 5 {
			fmt.Fprintf(w, "  %s: ... and %d more\n", what, len(ts)-i)
			return
		}
		fmt.Fprintf(w, "  %s: event published at %s\n", what, t.Format(time.RFC3339Nano))
	}
}
