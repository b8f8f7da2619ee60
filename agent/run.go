package agent

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/gorilla/websocket"
)

// run keeps one source connected until ctx is done or a permanent error
// occurs, rotating each connection before its token expires
// (make-before-break: the new connection opens before the old one is asked
// to close). It owns the live connections, one reader goroutine per
// connection (each ends when its socket closes, after reporting on
// s.ended) and at most one connect goroutine (ends after sending on
// s.dialed). run returns only after all of them have ended.
func (s *source) run(ctx context.Context) error {
	var (
		live            []*conn
		active          *conn
		handover        *conn // the previous connection, kept reading until active is proven
		connecting      bool
		connectingSince time.Time // when the attempt under way began
		rotateDue       bool
		attempt         int
		stopping        bool
		fatal           error
		gapFrom         time.Time
		gapWhy          string
		bo              = backoff{min: s.cfg.BackoffMin, max: s.cfg.BackoffMax}
		settled         *conn // the last active connection that reset bo
		// upSince is when the source was last connected after a window
		// with no connection: rotations and replacements carry it on, so
		// that a source up for hours on connections that each live less
		// than BackoffReset (short tokens, or pongs so slow that each
		// connection is replaced) counts as settled. Zero while down.
		upSince time.Time
		done    = ctx.Done()
	)
	if !s.cfg.DownSince.IsZero() {
		gapFrom, gapWhy = s.cfg.DownSince, "no agent was running: from the last sign of life of the previous run (when it stopped reading; after a crash, the last write of its spool, or of its --create record with --no-spool, at most a minute before)"
		s.openGap(gapFrom)
	}
	rotate := stoppedTimer()
	retry := stoppedTimer()
	force := stoppedTimer()
	handoverEnd := stoppedTimer()
	suspect := stoppedTimer() // fires when the active connection's pong is PongWait/2 overdue
	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()

	// nextWait is bo's next wait. Once the source has been connected for
	// BackoffReset (across rotations), its active connection resets bo
	// first, once: with make-before-break it never ends, yet the failures
	// before it (at start-up, say) must not lengthen the waits after a
	// failed rotation hours later.
	nextWait := func() time.Duration {
		if active != nil && active != settled && time.Since(upSince) >= s.cfg.BackoffReset {
			bo.reset()
			settled = active
		}
		return bo.next()
	}
	startConnect := func() {
		connecting = true
		connectingSince = time.Now()
		attempt++
		s.agent.armDedupe(time.Now())
		go s.connect(ctx, attempt, s.dialed)
	}
	retireHandover := func() {
		if handover != nil {
			handover.retire(s.cfg.WriteWait, s.cfg.CloseWait, "rotating to a fresh token")
			force.Reset(s.cfg.CloseWait)
			handover = nil
		}
		handoverEnd.Stop()
	}
	stop := func(reason string) {
		stopping = true
		if active == nil && !gapFrom.IsZero() {
			// The window since the loss ends here: the next start's gap
			// begins when this run stopped reading (DownSince). A
			// DownSince ahead of the clock (a wall clock stepped back
			// since the previous run) is a window of none, at the stop,
			// as at a connection's open: never one ending before it began.
			now := time.Now()
			s.describeGap(earlier(gapFrom, now), now, gapWhy+" (no connection since, until the agent stopped)")
			gapFrom = time.Time{}
		}
		handover = nil
		handoverEnd.Stop()
		rotate.Stop()
		retry.Stop()
		for _, c := range live {
			if !c.closing.Load() {
				c.retire(s.cfg.WriteWait, s.cfg.CloseWait, reason)
			}
		}
		force.Reset(s.cfg.CloseWait)
	}
	startConnect()
	for {
		if stopping && !connecting && len(live) == 0 {
			return fatal
		}
		select {
		case r := <-s.dialed:
			connecting = false
			switch {
			case r.err != nil && stopping:
			case r.err != nil && s.cfg.StopOn(r.err):
				s.log.Error(permanentMsg(r.err), "source", s.src.Name, "reason", r.err.Error())
				fatal = r.err
				stop("agent stopping")
			case r.err != nil:
				wait := askedWait(r.err, nextWait(), s.cfg.BackoffMax)
				attrs := []any{"source", s.src.Name, "reason", r.err.Error(), "retry_in", wait.Round(time.Millisecond).String()}
				if hint := retriedRefusalHint(r.err); hint != "" {
					attrs = append(attrs, "hint", hint)
				}
				s.log.Warn("connect failed", attrs...)
				retry.Reset(wait)
			case stopping:
				r.c.ws.Close()
			default:
				c := r.c
				s.agent.armDedupe(time.Now()) // the handover starts now (before c counts as live)
				c.older = slices.Clone(live)
				live = append(live, c)
				s.agent.live.Add(1)
				go func() {
					c.read(s.cfg.PongWait, frames{max: s.cfg.MaxFrameBytes, accept: s.accept, tooLarge: s.tooLarge})
					s.ended <- c
				}()
				if active != nil {
					if s.pongOverdue(active) {
						// Replaced while it stopped answering: what Dialpad
						// sent on it since may be lost (see silentGap).
						active.silentTo = c.opened
					}
					// Make before break: the old connection keeps reading
					// until the new one has carried a frame (so the server
					// surely serves it) or handoverWait passes.
					retireHandover()
					handover = active
					handover.replacedAt = c.opened
					handoverEnd.Reset(s.handoverWait(handover))
				} else if !gapFrom.IsZero() {
					// A reader held up by the queue finds the end late,
					// maybe after this one opened, while the server may
					// have closed it before: a window of none, at this
					// open, not one ending before it begins.
					s.describeGap(earlier(gapFrom, c.opened), c.opened, gapWhy)
					gapFrom = time.Time{}
				}
				if active == nil {
					upSince = c.opened
					s.agent.unlinked.Add(-1) // counted by the active connection, as gaps are
				}
				active, rotateDue = c, false
				rotate.Reset(time.Until(s.rotateAt(c)))
				s.log.Info("connected", "source", s.src.Name, "conn", c.name, "token_expires", fmtTime(c.expiry))
				s.agent.markConnected()
			}
		case c := <-s.ended:
			live = removeConn(live, c)
			s.agent.live.Add(-1)
			if now := time.Now(); droppedUnread(c, now) {
				s.agent.stats.droppedUnread.Add(1)
				msg := droppedUnreadMsg
				if c.forced {
					msg = endedUnreadMsg
				}
				s.log.Warn(msg,
					"source", s.src.Name, "conn", c.name, "reason", closeReason(c.err), "last_frame", fmtTime(shownTime(c.lastFrame.Load())))
			} else if !stopping && cutShort(c, now, s.cfg.CloseWait) {
				s.agent.stats.droppedUnread.Add(1)
				s.log.Warn(cutShortMsg,
					"source", s.src.Name, "conn", c.name, "reason", closeReason(c.err), "last_frame", fmtTime(shownTime(c.lastFrame.Load())))
			}
			if c == handover {
				handover = nil
				handoverEnd.Stop()
			}
			if c != active {
				s.silentGap(c)
				if from := c.lostAt(); !c.replacedAt.IsZero() && from.Before(c.replacedAt) && c.silentTo.IsZero() && !c.closing.Load() && !stopping {
					// It ended on its own (the server, the network) before
					// any close of ours and before its replacement opened,
					// whose open came through first: the window from its
					// end to that open, as when its end comes through
					// first (below). Nothing was logged: a window of
					// seconds went unsaid. One that ended after the open
					// left no window (a gap of 0s was logged).
					s.describeGap(from, c.replacedAt, closeReason(c.err))
				}
				s.log.Debug("previous connection closed", "conn", c.name, "reason", closeReason(c.err))
				break
			}
			if handover != nil && !stopping {
				// The new connection died during the handover: the old one
				// still reads, so there is no gap. Keep it and try again.
				active, handover = handover, nil
				handoverEnd.Stop()
				rotateDue = true
				wait := nextWait()
				s.log.Warn("new connection lost during the handover; keeping the previous one", "source", s.src.Name,
					"conn", c.name, "reason", closeReason(c.err), "retry_in", wait.Round(time.Millisecond).String())
				retry.Reset(wait)
				break
			}
			active = nil
			s.agent.unlinked.Add(1) // a gap, though an older connection may still be closing
			rotate.Stop()
			if stopping {
				break
			}
			why := closeReason(c.err)
			// From when its reader found it ended, not now: this
			// goroutine may see the end after a newer connection opened.
			gapFrom, gapWhy = c.lostAt(), why
			s.openGap(gapFrom) // counted from now on, not only once it ends
			s.agent.stats.reconnects.Add(1)
			// Up for BackoffReset, across rotations: the backoff starts
			// afresh. (It counted the lost connection's own life only, so
			// with tokens shorter than BackoffReset, as the emulator's
			// --token-ttl 30s, every drop, minutes apart, doubled the
			// wait: 0.4 s, 0.7 s, ... 28 s, with minutes of healthy
			// rotations between the drops.)
			planned := time.Since(upSince) >= s.cfg.BackoffReset || s.nearExpiry(c)
			upSince = time.Time{}
			if planned {
				bo.reset()
			}
			if connecting {
				// A replacement (for a pong overdue, or a rotation) is
				// already being fetched and dialled: its result, not a
				// backoff, decides when the next attempt comes. (The
				// line used to promise a retry in half a second while that
				// attempt, its REST call lost on a dead network, went on
				// for up to the HTTP timeout and its retries.)
				lvl := slog.LevelWarn
				if planned {
					lvl = slog.LevelInfo
				}
				s.log.Log(ctx, lvl, "disconnected; a connection attempt is already under way", "source", s.src.Name, "conn", c.name, "reason", why,
					"attempt_since", time.Since(connectingSince).Round(time.Millisecond).String())
				break
			}
			if planned {
				s.log.Info("disconnected; reconnecting now", "source", s.src.Name, "conn", c.name, "reason", why)
				startConnect()
				break
			}
			wait := bo.next()
			s.log.Warn("disconnected; reconnecting after backoff", "source", s.src.Name, "conn", c.name, "reason", why, "retry_in", wait.Round(time.Millisecond).String())
			retry.Reset(wait)
		case <-rotate.C:
			rotateDue = true
			if !connecting && !stopping {
				s.log.Info("rotating before the token expires", "source", s.src.Name, "conn", active.name)
				startConnect()
			}
		case <-retry.C:
			if !connecting && !stopping && (active == nil || rotateDue) {
				startConnect()
			}
		case <-firstFrame(active, handover):
			retireHandover()
		case <-handoverEnd.C:
			retireHandover()
		case <-ping.C:
			for _, c := range live {
				if !c.closing.Load() {
					if err := c.ping(s.cfg.WriteWait); err != nil {
						s.log.Debug("ping failed", "conn", c.name, "reason", err.Error())
					}
				}
			}
			if active != nil {
				suspect.Reset(time.Until(monoTime(active.lastPong.Load()).Add(s.cfg.PongWait / 2)))
			}
		case <-suspect.C:
			// A pong overdue by half the deadline: open a replacement while
			// the suspect connection can still be read.
			// Not while its reader waits for the queue: the pongs are
			// unread, not missing.
			if active != nil && !connecting && !stopping && s.pongOverdue(active) {
				s.log.Warn("no pong for a while; opening a replacement connection", "source", s.src.Name, "conn", active.name,
					"last_pong", shownTime(active.lastPong.Load()).Format(time.RFC3339Nano))
				rotateDue = true
				startConnect()
			}
		case now := <-force.C:
			var next time.Time
			for _, c := range live {
				if !c.closing.Load() {
					continue
				}
				switch {
				case c.blocked(),
					(c.heldUpWithin(now, s.cfg.CloseWait) || c.readWithin(now, s.cfg.CloseWait)) &&
						now.Before(c.readingSince().Add(s.cfg.PongWait)):
					// Its reader waits for the queue: closing now would
					// drop the frames still unread in the socket. Or it did
					// lately, or it is still reading frames: what the server
					// sent before its close reply, which comes after them
					// (a backlog after a wait for the queue can take long
					// to read), for a pong deadline at most from our close
					// or its last wait, so that a server that goes on
					// sending after our close does not hold up a stop or a
					// rotation for good. (Hand-overs of a millisecond, on a
					// loaded machine, kept it open while the server sent:
					// they were not bounded.) It gets CloseWait from when
					// it is free.
					c.closeBy = now.Add(s.cfg.CloseWait)
				case !stopping && c.resumingAfterStall(now, s.cfg.CloseWait):
					// After a stall the server may resume sending what it
					// holds only a while later: it is kept to read that.
					// The newer connections no longer wait for it, as
					// their own servers' buffers fill meanwhile.
					c.letNewerOn()
					c.closeBy = now.Add(s.cfg.CloseWait)
				case now.Before(c.closeBy):
				case !c.forced:
					// Not a close under the reader: what the socket holds
					// is read first, then the read ends.
					s.log.Debug("ending connection that did not finish the close handshake", "conn", c.name)
					c.forced = true
					c.shutRead()
					c.closeBy = now.Add(s.cfg.CloseWait)
				default:
					// Still reading a CloseWait after that: frames keep
					// coming faster than it reads them.
					s.log.Debug("closing connection still read after its read side was shut", "conn", c.name)
					c.ws.Close()
					continue
				}
				if next.IsZero() || c.closeBy.Before(next) {
					next = c.closeBy
				}
			}
			if !next.IsZero() {
				force.Reset(time.Until(next))
			}
		case <-done:
			done = nil
			stop("agent shutting down")
		}
	}
}

// droppedUnread reports whether c ended without a close frame (the
// server, or the network, dropped it) within droppedAfterStall of a stall
// of its reader (the queue full, an older connection read first): the
// server may have given up on a connection that did not read, and events
// sent on it alone are lost. (The reader first reads what the socket
// still holds, so the end comes a while after the stall.) A connection the
// agent ended itself after such a stall counts too: the server may still
// have held frames for it.
func droppedUnread(c *conn, now time.Time) bool {
	var ce *websocket.CloseError
	clean := errors.As(c.err, &ce) && ce.Code != websocket.CloseAbnormalClosure
	return !clean && c.stalledWithin(now, droppedAfterStall)
}

// droppedUnreadMsg is the warning of a connection droppedUnread.
const droppedUnreadMsg = "the server dropped a connection while the agent could not read it (the queue was full, or an older connection was read first): events Dialpad sent on it alone and not read are lost (it replays nothing)"

// endedUnreadMsg is the warning of a connection droppedUnread that the
// agent ended itself (a stop, or a server that neither sent on nor
// finished the close): the server may still have held events for it.
const endedUnreadMsg = "a connection whose reader had been held up (the queue was full, or an older connection was read first) was ended before the server finished it: events Dialpad still held for it and not read are lost (it replays nothing)"

// cutShort reports whether c, being closed (rotated out, or replaced for
// a late pong), ended without the server's close reply while its frames
// were still coming: on a slow link its server still held a backlog, some
// of it sent before the replacement opened, so on c alone. (Such a
// connection, alive but behind, was let go of without a word: its frames
// were too recent for a silent connection's window, and its reader had not
// stalled.)
func cutShort(c *conn, now time.Time, closeWait time.Duration) bool {
	var ce *websocket.CloseError
	clean := errors.As(c.err, &ce) && ce.Code != websocket.CloseAbnormalClosure
	return !clean && c.closing.Load() && c.readWithin(now, closeWait)
}

// cutShortMsg is the warning of a connection cutShort.
const cutShortMsg = "a connection being closed ended while its server was still sending (a slow or congested link): events Dialpad sent on it before its replacement opened and not read are lost (it replays nothing)"

// droppedAfterStall: see droppedUnread.
const droppedAfterStall = time.Minute

// pongOverdue reports whether c's pong is half the pong deadline overdue, and
// not because its reader waits for the queue (then the pongs are unread,
// not missing): a replacement is due, and c may be dead.
func (s *source) pongOverdue(c *conn) bool {
	return !c.blocked() && time.Since(monoTime(c.lastPong.Load())) >= s.cfg.PongWait/2
}

// askedWait is the wait before the next attempt after err: wait, or the
// delay a Retry-After header of Dialpad's answer asked for (a 429 the REST
// client gave up retrying) when that is longer, capped at most.
func askedWait(err error, wait, most time.Duration) time.Duration {
	var api *dialpad.APIError
	if errors.As(err, &api) && api.RetryAfter > wait {
		return max(min(api.RetryAfter, most), wait)
	}
	return wait
}

// firstFrame is the channel that proves the new connection during a
// handover: closed at its first frame. nil (never ready) otherwise.
func firstFrame(active, handover *conn) <-chan struct{} {
	if active == nil || handover == nil {
		return nil
	}
	return active.first
}

// handoverWait bounds how long the previous connection stays open after the
// new one opened: HandoverWait, but never past half the time the previous
// token has left.
func (s *source) handoverWait(old *conn) time.Duration {
	d := s.cfg.HandoverWait
	if !old.expiry.IsZero() {
		d = min(d, time.Until(old.expiry)/2)
	}
	return max(d, 0)
}

// nearExpiry reports whether c ended at (or just before) its token's expiry,
// which is a planned close rather than a failure.
func (s *source) nearExpiry(c *conn) bool {
	if c.expiry.IsZero() {
		return false
	}
	slack := min(time.Second, c.expiry.Sub(c.opened)/10)
	return !time.Now().Before(c.expiry.Add(-slack))
}

func removeConn(live []*conn, c *conn) []*conn {
	for i, l := range live {
		if l == c {
			return append(live[:i], live[i+1:]...)
		}
	}
	return live
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.Format(time.RFC3339Nano)
}

// armDedupe turns duplicate checks on for a connection about to be made or
// opened, unless no other connection can carry its frames: with one source
// and no connection open, nothing it receives can arrive twice (Dialpad
// replays nothing), so the agent's start and its reconnects after a drop
// hash no frames.
func (a *Agent) armDedupe(now time.Time) {
	if len(a.cfg.Sources) == 1 && a.live.Load() == 0 {
		return
	}
	a.dedupe.arm(now)
}
