package agent

import (
	"context"
	"time"
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
		live       []*conn
		active     *conn
		connecting bool
		rotateDue  bool
		attempt    int
		stopping   bool
		fatal      error
		gapFrom    time.Time
		gapWhy     string
		bo         = backoff{min: s.cfg.BackoffMin, max: s.cfg.BackoffMax}
		done       = ctx.Done()
	)
	rotate := stoppedTimer()
	retry := stoppedTimer()
	force := stoppedTimer()
	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()

	startConnect := func() {
		connecting = true
		attempt++
		s.agent.dedupe.arm(time.Now())
		go s.connect(ctx, attempt, s.dialed)
	}
	stop := func(reason string) {
		stopping = true
		rotate.Stop()
		retry.Stop()
		for _, c := range live {
			if !c.retiring {
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
			case r.err != nil && permanent(r.err):
				s.log.Error("stopping: Dialpad refused the request", "source", s.src.Name, "reason", r.err.Error())
				fatal = r.err
				stop("agent stopping")
			case r.err != nil:
				wait := bo.next()
				s.log.Warn("connect failed", "source", s.src.Name, "reason", r.err.Error(), "retry_in", wait.Round(time.Millisecond).String())
				retry.Reset(wait)
			case stopping:
				r.c.ws.Close()
			default:
				c := r.c
				live = append(live, c)
				s.agent.live.Add(1)
				go func() {
					c.read(s.cfg.PongWait, s.accept)
					s.ended <- c
				}()
				if active != nil {
					active.retire(s.cfg.WriteWait, s.cfg.CloseWait, "rotating to a fresh token")
					force.Reset(s.cfg.CloseWait)
				} else if !gapFrom.IsZero() {
					s.describeGap(gapFrom, c.opened, gapWhy)
					gapFrom = time.Time{}
				}
				active, rotateDue = c, false
				rotate.Reset(time.Until(s.rotateAt(c)))
				s.log.Info("connected", "source", s.src.Name, "conn", c.name, "token_expires", fmtTime(c.expiry))
				s.agent.markConnected()
			}
		case c := <-s.ended:
			live = removeConn(live, c)
			s.agent.live.Add(-1)
			if c != active {
				s.log.Debug("previous connection closed", "conn", c.name, "reason", closeReason(c.err))
				break
			}
			active = nil
			rotate.Stop()
			if stopping {
				break
			}
			why := closeReason(c.err)
			gapFrom, gapWhy = time.Now(), why
			s.agent.stats.reconnects.Add(1)
			if time.Since(c.opened) >= s.cfg.BackoffReset || s.nearExpiry(c) {
				bo.reset()
				s.log.Info("disconnected; reconnecting now", "source", s.src.Name, "conn", c.name, "reason", why)
				if !connecting {
					startConnect()
				}
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
		case <-ping.C:
			for _, c := range live {
				if !c.retiring {
					if err := c.ping(s.cfg.WriteWait); err != nil {
						s.log.Debug("ping failed", "conn", c.name, "reason", err.Error())
					}
				}
			}
		case now := <-force.C:
			var next time.Time
			for _, c := range live {
				switch {
				case !c.retiring:
				case !now.Before(c.closeBy):
					s.log.Debug("closing connection that did not finish the close handshake", "conn", c.name)
					c.ws.Close()
				case next.IsZero() || c.closeBy.Before(next):
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
