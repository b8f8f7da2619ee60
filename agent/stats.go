package agent

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// counters are the agent's running totals, updated atomically.
type counters struct {
	received, duplicates, invalid atomic.Int64
	delivered, failed, abandoned  atomic.Int64
	reconnects                    atomic.Int64
	gaps                          gapTally
	filtered, rejected, oversized atomic.Int64
	unqueued                      atomic.Int64 // of abandoned: those Append (or Reject) refused
	parked                        atomic.Int64
	droppedUnread                 atomic.Int64 // connections dropped while their reader was held up
	latency                       latencies    // of the deliveries counted in delivered
}

// Stats is a snapshot of an agent's totals.
type Stats struct {
	Received   int64 // events stored for delivery: once each, however many routes take it
	Duplicates int64 // frames dropped as already seen on another connection
	Invalid    int64 // frames that were not events (logged with a reason), whatever the filters, and only here, not in Filtered
	Delivered  int64 // events the handler answered with 2xx
	Failed     int64 // events whose delivery gave up (logged with a reason)
	Abandoned  int64 // events still queued at shutdown (in-memory queue), or that could not be queued
	Oversized  int64 // frames refused whole for exceeding MaxFrameBytes: their events are lost
	Filtered   int64 // events no filter or route wanted (a frame that is not an event counts in Invalid)
	Rejected   int64 // frames that failed signature verification (dead letters)
	Parked     int64 // retry waits given back to the queue until due (beyond maxWaiting waiting on workers)
	Reconnects int64 // connections that ended unplanned
	// DroppedUnread counts connections the server dropped while their
	// reader was held up (queue full), and connections being closed that
	// ended while their server still sent (cutShort): events on them may
	// be lost.
	DroppedUnread int64
	Gaps          int64         // windows with no open connection after the first one, one still open included
	GapTime       time.Duration // total length of those windows, an open one's up to now
	Connected     int           // connections open now
	Unconnected   int           // sources with no connection open now
	Latency       Latencies     // of the deliveries counted in Delivered
	Pending       int           // events queued on every route and not done yet
	Paused        time.Duration // the longest any route's queue has made reading wait for room (0: none does)
}

// Stats returns the current totals.
func (a *Agent) Stats() Stats {
	c := &a.stats
	paused, _ := a.paused()
	gaps, gapTime := c.gaps.totals(time.Now())
	return Stats{
		Received: c.received.Load(), Duplicates: c.duplicates.Load(), Invalid: c.invalid.Load(),
		Delivered: c.delivered.Load(), Failed: c.failed.Load(), Abandoned: c.abandoned.Load(),
		Filtered: c.filtered.Load(), Rejected: c.rejected.Load(), Oversized: c.oversized.Load(), Parked: c.parked.Load(),
		Reconnects: c.reconnects.Load(), Gaps: gaps, GapTime: gapTime, DroppedUnread: c.droppedUnread.Load(),
		Connected: int(a.live.Load()), Unconnected: int(a.unlinked.Load()), Latency: c.latency.snapshot(),
		Pending: a.pending(), Paused: paused,
	}
}

// reportStatus logs a status line every StatusInterval until ctx is done,
// so a long-running agent's state is visible without reading every event.
func (a *Agent) reportStatus(ctx context.Context) {
	if a.cfg.StatusInterval < 0 {
		return
	}
	tick := time.NewTicker(a.cfg.StatusInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		st := a.Stats()
		state := "connected"
		if st.Connected == 0 {
			state = "NOT CONNECTED"
		}
		attrs := []any{"state", state, "connections", st.Connected, "received", st.Received,
			"delivered", st.Delivered, "failed", st.Failed, "pending", st.Pending,
			"duplicates_dropped", st.Duplicates, "invalid_frames", st.Invalid, "reconnects", st.Reconnects,
			"gaps", st.Gaps, "gap_time", st.GapTime.Round(time.Millisecond).String()}
		if st.DroppedUnread > 0 {
			attrs = append(attrs, "dropped_unread", st.DroppedUnread)
		}
		// Counters of events that came and are not delivered, named as
		// the stopped line names them; only once there are any.
		if st.Filtered > 0 {
			attrs = append(attrs, "filtered", st.Filtered)
		}
		if st.Rejected > 0 {
			attrs = append(attrs, "refused_signatures", st.Rejected)
		}
		// The stopped line's lost=, before the stop adds what it leaves:
		// until then Abandoned counts only events Append refused.
		if lost := st.Abandoned + st.Oversized; lost > 0 {
			attrs = append(attrs, "lost", lost)
		}
		level := slog.LevelInfo
		if paused, why := a.paused(); paused > 0 {
			// Reading waits, or events are held in memory and not stored:
			// worth a warning on every status line while it lasts.
			level = slog.LevelWarn
			attrs = append(attrs, "paused", why+" for "+paused.Round(time.Second).String())
		}
		a.log.Log(ctx, level, "status", attrs...)
	}
}

// paused is the longest any route's queue has been waiting for room (0:
// none is), and why: a spool's disk is full, or the in-memory queue is
// (naming the route when there are several: one full queue pauses
// reading for all of them).
func (a *Agent) paused() (longest time.Duration, why string) {
	for _, r := range a.cfg.Routes {
		if p := r.Queue.Paused(); p > longest {
			longest, why = p, "in-memory queue full"
			if len(a.cfg.Routes) > 1 {
				why = "in-memory queue of route " + r.Name + " full"
			}
			if r.Queue.Durable() {
				why = "spool: no space on the disk"
			}
		}
	}
	return longest, why
}

// pending is the number of events queued on every route.
func (a *Agent) pending() int {
	n := 0
	for _, r := range a.cfg.Routes {
		n += r.Queue.Len()
	}
	return n
}
