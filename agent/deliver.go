package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
	"github.com/google/uuid"
)

// deliverLoop is one delivery worker: it takes the next event whose key is
// free, forwards it (forward retries retryable failures until its attempt
// limit or the event's MaxAge) and ends it in the queue: Ack when
// delivered, Dead when refused or given up on, Hold when the agent is
// stopping (once draining is done no retry starts). It returns when the
// queue hands out nothing more, ctx is done, its pool has a worker more
// than it needs, or the agent is stopping and the queue is durable (what
// is queued then stays there: no first attempt starts).
func (a *Agent) deliverLoop(p *pool) {
	ctx, draining, r := p.ctx, p.draining, p.r
	w := &worker{r: r, p: p}
	attempted := w.attempted // one allocation per worker, not per event
	for {
		if p.surplus() { // counted as gone
			return
		}
		if draining.Err() != nil && r.Queue.Durable() {
			// Stopping with a spool: no queued event starts its first
			// attempt (not even with a slot free), so none is taken out
			// only to be given back, with a warning, while the
			// connections close.
			p.workers.Add(-1)
			return
		}
		ev, err := r.Queue.Next(ctx)
		if err != nil {
			if !errors.Is(err, spool.ErrClosed) && ctx.Err() == nil {
				a.log.Error("spool read failed", "reason", err.Error())
				continue
			}
			p.workers.Add(-1)
			return
		}
		if ctx.Err() != nil {
			a.release(r, ev, spool.CountAttempts(ev.Tried), false)
			p.workers.Add(-1)
			return
		}
		if draining.Err() != nil && r.Queue.Durable() {
			// Handed out as the stop began: it never started, and stays
			// pending, first of its key, for the next start (one not on
			// disk yet if the spool writes it before it stops; if not, the
			// stop counts it as unstored, as release would say).
			r.Queue.Hold(ev)
			p.workers.Add(-1)
			return
		}
		w.ev = ev
		a.deliver(ctx, draining, w, ev, attempted)
		w.ev = spool.Event{} // let go of the body
		w.done()
	}
}

// worker is a delivery worker's own state: the event it is delivering,
// for attempted, which forward calls on the worker's goroutine.
type worker struct {
	r       *Route
	p       *pool
	ev      spool.Event
	waiting bool // the delivery waits for a retry, counted in p.waiting
}

// wait counts the delivery as waiting for a retry (once): the pool starts
// a worker to take its place, and the queue no longer counts the event's
// class as holding this one (Queue.Share).
func (w *worker) wait() {
	if !w.waiting {
		w.waiting = true
		w.r.Queue.Waits(w.ev)
		w.p.enterWait()
	}
}

// done ends the count of wait.
func (w *worker) done() {
	if w.waiting {
		w.waiting = false
		w.p.leaveWait()
	}
}

// attempted is forward's Request.Attempted: it keeps the attempts so far
// in the spool, after each failed one up to keepEveryAttempt, then after
// every keepEveryAttempt-th.
func (w *worker) attempted(h []forward.Attempt) {
	w.wait() // forward calls it before each retry's wait
	if n := spool.CountAttempts(w.ev.Tried) + len(h); n <= keepEveryAttempt || n%keepEveryAttempt == 0 {
		w.r.Queue.Tried(w.ev, attempts(w.ev.Tried, h))
	}
}

// logDelivered writes the line of an event delivered. Attrs, not
// key-value pairs: each string passed as an any takes an allocation. A
// function of its own: they would make deliver's frame, on the stack of
// every delivery waiting for a retry, larger.
func (a *Agent) logDelivered(r *Route, ev *spool.Event, status, attempts int, took time.Duration) {
	a.log.LogAttrs(context.Background(), slog.LevelInfo, "event delivered", slog.String("route", r.Name), slog.String("type", ev.Type),
		slog.String("key", ev.Key), slog.String("id", ev.ID), slog.Int("status", status), slog.Int("attempts", attempts),
		slog.String("latency", took.Round(time.Microsecond).String()))
}

// deliver delivers ev, or ends it otherwise (Dead, or release when the
// agent stops first). Its first Forwarder call retries on its own, up to
// keepEveryAttempt attempts; after that, and for an event attempted
// before (in an earlier run), each call makes one attempt and deliver
// waits between them, so that what a long outage keeps in memory stays
// bounded: the attempts of one call, and ev.Tried (spool.Keep).
func (a *Agent) deliver(ctx, draining context.Context, w *worker, ev spool.Event, attempted func([]forward.Attempt)) {
	r := w.r
	deadline := ev.Received.Add(a.cfg.MaxAge)
	if !ev.Replayed.IsZero() {
		deadline = ev.Replayed.Add(a.cfg.MaxAge) // a replay is a fresh start
	}
	due := ev.Due // when the next attempt is due; zero: from ev.Tried
	for first := true; ; first = false {
		prior := spool.CountAttempts(ev.Tried)
		if (!first || !ev.Due.IsZero()) && draining.Err() != nil { // no retry starts once stopping (a parked one neither)
			a.releaseTried(r, ev, first)
			return
		}
		// An event whose attempts are spent already (listen restarted with
		// a lower --max-attempts) waits for no retry: Deliver makes it a
		// dead letter at once.
		if !r.Forwarder.AttemptsSpent(prior) {
			switch a.waitOutRetry(ctx, draining, w, ev, due, deadline, first) {
			case stopped:
				a.releaseTried(r, ev, first)
				return
			case parked:
				return
			}
		}
		if !time.Now().Before(deadline) { // no attempt starts past the max age
			a.giveUp(r, ev, ev.Tried, a.maxAgeReason(ev.Tried, "no attempt"), prior, 0)
			return
		}
		budget := 1
		if prior == 0 && !w.p.parks(w.waiting) {
			budget = keepEveryAttempt
		}
		w.ev = ev // for attempted
		// The max age, like a stop, ends the delivery at its next retry:
		// an attempt in flight then goes on (within --timeout), so that
		// one the handler took is not a dead letter. One still waiting
		// for a slot is not made at the max age, nor, with a spool, which
		// keeps the event, at a stop.
		res := r.Forwarder.Deliver(ctx, forward.Request{ID: ev.ID, EventID: EventID(ev.Body, ev.JWT), Key: ev.Key, Body: ev.Body, JWT: ev.JWT, Raw: ev.Raw(), Type: ev.Type, Stop: draining, StopAt: deadline,
			StopQueued: r.Queue.Durable(), Prior: prior, Attempted: attempted, Attempts: budget})
		history := spool.Keep(attempts(ev.Tried, res.History))
		switch {
		case res.Err == nil:
			if w.p.delivery() {
				r.Queue.Unpark() // the handler is back: paced retries on their own clocks again
			}
			// Logged before the Ack, which lets the key's next event go:
			// else its line could come first.
			took := sinceArrival(ev) // one reading, for the line and the histogram alike
			if a.log.Enabled(ctx, slog.LevelInfo) {
				a.logDelivered(r, &ev, res.Status, res.Attempts, took)
			}
			r.Queue.Ack(ev, history)
			a.stats.delivered.Add(1)
			a.stats.latency.observe(took)
			return
		case res.Retryable && (ctx.Err() != nil || errors.Is(res.Err, forward.ErrStopped) && draining.Err() != nil):
			made := res.History
			if ctx.Err() != nil {
				made = withoutCancelled(made)
			}
			if len(made) > 0 || !first { // all of them: past keepEveryAttempt not every one is written as it goes
				r.Queue.Tried(ev, spool.Keep(attempts(ev.Tried, made)))
			}
			// Logged in release, not here: deliver's frame is on the stack
			// of every delivery waiting for a retry, and a log call's
			// arguments here cost 3 MiB of stacks behind a dead handler.
			a.release(r, ev, prior+len(made), len(made) < len(res.History))
			return
		case res.Retryable && !res.RetryAt.IsZero() && time.Now().Before(deadline):
			// The call's attempts are used up: wait here, and go on.
			if n := res.Attempts; n <= keepEveryAttempt || n%keepEveryAttempt == 0 {
				r.Queue.Tried(ev, history)
			}
			ev.Tried, due = history, res.RetryAt
			continue
		}
		reason := res.Err.Error()
		if res.Answer != "" {
			reason += "; the handler answered: " + res.Answer // its own reason, which the status alone does not give
		}
		if res.Retryable && !time.Now().Before(deadline) {
			reason = a.maxAgeReason(history, reason)
		}
		a.giveUp(r, ev, history, reason, res.Attempts, res.Status)
		return
	}
}

// maxAgeReason is a dead letter's reason at the max age.
func (a *Agent) maxAgeReason(history []spool.Attempt, otherwise string) string {
	return fmt.Sprintf("max age %s reached after %d attempts; last: %s", a.cfg.MaxAge, spool.CountAttempts(history), lastAnswer(history, otherwise))
}

// giveUp makes ev a dead letter with its history, and logs it with the
// status of its last answer (0 when the last attempt got none).
func (a *Agent) giveUp(r *Route, ev spool.Event, history []spool.Attempt, reason string, attempts, status int) {
	if last, ok := spool.LastAttempt(history); ok && status == 0 {
		status = last.Status // the max age came before this call's attempt
	}
	// Logged first: Dead lets the key's next event go, whose line must
	// not come before this one.
	a.log.Error("delivery failed", "route", r.Name, "type", ev.Type, "key", ev.Key, "id", ev.ID,
		"status", status, "attempts", attempts, "latency", latency(ev), "reason", reason, "dead_letter", r.Queue.Durable())
	r.Queue.Dead(ev, reason, history)
	a.stats.failed.Add(1)
}

// retried is how waitOutRetry ends.
type retried int

const (
	goAhead retried = iota // the attempt may start
	stopped                // the agent began to stop first
	parked                 // the event waits in the queue, given back (Queue.Park)
)

// waitOutRetry waits, before an attempt that follows failed ones, until
// it is due: due when not zero (what the last call reported, a
// Retry-After included, or when a parked event was due), else the wait
// that follows the last attempt of ev.Tried (made in an earlier run, when
// first), so that an agent restarted in a loop does not retry a failing
// handler at once each time. It never waits past the event's max age.
// When the pool parks waits, it gives the event back to the queue until
// then instead; if the queue refuses (its spool stopped) it reports
// stopped.
func (a *Agent) waitOutRetry(ctx, draining context.Context, w *worker, ev spool.Event, due, deadline time.Time, first bool) retried {
	r := w.r
	last, ok := spool.LastAttempt(ev.Tried)
	if !ok {
		return goAhead
	}
	until := due
	if until.IsZero() {
		until = last.At.Add(last.Duration + r.Forwarder.RetryWait(ev.ID, spool.CountAttempts(ev.Tried), last.RetryAfter))
	}
	if deadline.Before(until) {
		until = deadline
	}
	wait := time.Until(until)
	if wait <= 0 {
		return goAhead
	}
	if draining.Err() == nil && w.p.parks(w.waiting) {
		p := spool.Parking{Due: until}
		if now := time.Now(); !w.p.working() {
			if p.Paced = w.p.paced(until, r.Forwarder.MaxRetryWait()); deadline.Before(p.Paced) {
				p.Paced = deadline
			}
			p.PacedAt = now
			wait = time.Until(p.Paced)
		}
		if err := r.Queue.Park(ev, ev.Tried, p); err != nil {
			return stopped
		}
		a.stats.parked.Add(1)
		a.log.Debug("delivery parked until its retry is due", "route", r.Name, "type", ev.Type, "key", ev.Key, "id", ev.ID,
			"attempts", spool.CountAttempts(ev.Tried), "wait", wait.Round(time.Millisecond).String())
		return parked
	}
	w.wait() // on a worker of its own, as forward's retry waits
	if first && ev.Due.IsZero() {
		a.log.Info("resuming an event that failed before the restart: waiting out the rest of its retry wait",
			"route", r.Name, "type", ev.Type, "key", ev.Key, "id", ev.ID, "attempts", spool.CountAttempts(ev.Tried), "wait", wait.Round(time.Millisecond).String())
	} else {
		a.log.Debug("waiting for the next attempt", "route", r.Name, "type", ev.Type, "key", ev.Key, "id", ev.ID,
			"attempts", spool.CountAttempts(ev.Tried), "wait", wait.Round(time.Millisecond).String())
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return goAhead
	case <-ctx.Done():
	case <-draining.Done():
	}
	return stopped
}

// releaseTried is release for an event between attempts: unless none was
// made in this run (first), its attempts are written first, all of them
// (past keepEveryAttempt only every keepEveryAttempt-th is, as it goes),
// so that the next start goes on from them, in the attempt header and
// toward --max-attempts.
func (a *Agent) releaseTried(r *Route, ev spool.Event, first bool) {
	if !first {
		r.Queue.Tried(ev, ev.Tried)
	}
	a.release(r, ev, spool.CountAttempts(ev.Tried), false)
}

// release gives back an event the agent is stopping too early to deliver:
// the durable spool keeps it for the next start; in memory it is lost, and
// counted and reported as such. Its key stays busy (Queue.Hold): the
// drain delivers no later event of the key before it.
//
// cut says the drain timeout cut its last POST short: sent, so in memory
// it is lost unless the handler acted on it, and the line says so.
func (a *Agent) release(r *Route, ev spool.Event, attempts int, cut bool) {
	r.Queue.Hold(ev)
	switch {
	case r.Queue.OnDisk(ev):
		a.log.Warn("delivery interrupted by shutdown; kept in the spool for the next start", "route", r.Name, "type", ev.Type, "key", ev.Key, "id", ev.ID, "attempts", attempts)
		return
	case r.Queue.Durable():
		// Handed out before its batch was on disk: kept only if the spool
		// can still write it (a full disk may keep it from that; then the
		// stop counts it among the events it could not store).
		a.log.Warn("delivery interrupted by shutdown; not on disk yet: kept for the next start only if the spool writes it before it stops (else the stopped line counts it as unstored)", "route", r.Name, "type", ev.Type, "key", ev.Key, "id", ev.ID, "attempts", attempts)
		return
	}
	a.stats.abandoned.Add(1)
	if cut {
		a.log.Error(cutShortLostMsg, "route", r.Name, "type", ev.Type, "key", ev.Key, "id", ev.ID, "attempts", attempts)
		return
	}
	a.log.Error("delivery interrupted by shutdown; the event is lost (--no-spool)", "route", r.Name, "type", ev.Type, "key", ev.Key, "id", ev.ID, "attempts", attempts)
}

// cutShortLostMsg is the line of an event of the in-memory queue whose
// POST the drain timeout cut short: not counted as an attempt (attempts=),
// but sent, so the handler may have it.
const cutShortLostMsg = "delivery cut short by the drain timeout; the event is lost (--no-spool) unless the handler acted on the POST it was sent"

// withoutCancelled is h without its last attempt if the agent's own stop
// cut that one short (the drain timeout cancelled it): like an attempt a
// crash cuts short, it is not counted, so it neither uses up
// --max-attempts nor starts a retry wait at the next start.
func withoutCancelled(h []forward.Attempt) []forward.Attempt {
	if n := len(h); n > 0 && h[n-1].Status == 0 && h[n-1].Err == context.Canceled.Error() {
		return h[:n-1]
	}
	return h
}

// latency is the time from arrival (or the replay that put the event back)
// to now, for log lines.
func latency(ev spool.Event) string {
	return sinceArrival(ev).Round(time.Microsecond).String()
}

// lastAnswer describes the last attempt of history (its status, else its
// error), or is otherwise when there was none: at max age, the error that
// ended the delivery is the deadline, not what the handler did.
func lastAnswer(history []spool.Attempt, otherwise string) string {
	if len(history) == 0 {
		return otherwise
	}
	last := history[len(history)-1]
	if last.Omitted > 0 || last.Status == 0 && (last.Error == context.DeadlineExceeded.Error() || last.Error == context.Canceled.Error()) {
		// Cut short, not answered (the max age did so in versions before
		// it let attempts in flight finish; their spools still hold such
		// attempts): the one before says more.
		if len(history) == 1 {
			return "an attempt cut short by the max age"
		}
		return lastAnswer(history[:len(history)-1], otherwise)
	}
	switch {
	case last.Status != 0:
		return strings.TrimSpace(fmt.Sprintf("%d %s", last.Status, http.StatusText(last.Status)))
	case last.Error != "":
		return last.Error
	}
	return otherwise
}

// keepEveryAttempt: the spool records each failed attempt of an event up
// to this many, then every this-many-th (each record holds them all, as
// spool.Keep bounds them, so this bounds what a long outage writes); a
// stop records them all. It is also the most attempts of an event's first
// Forwarder call.
const keepEveryAttempt = 100

// attempts is the attempts made before this delivery followed by
// forward's history of it, for the spool.
func attempts(before []spool.Attempt, h []forward.Attempt) []spool.Attempt {
	if len(before)+len(h) == 0 {
		return nil
	}
	out := make([]spool.Attempt, len(before), len(before)+len(h))
	copy(out, before)
	for _, a := range h {
		e := a.Err
		if n := len(out); n > 0 && out[n-1].Error == e {
			e = out[n-1].Error // one copy of an error repeated for hours
		}
		out = append(out, spool.Attempt{At: a.At, Status: a.Status, Error: e, Duration: a.Duration, RetryAfter: a.RetryAfter})
	}
	return out
}

func newDeliveryID() string { return uuid.NewString() }
