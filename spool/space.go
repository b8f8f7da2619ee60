package spool

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"
)

// A write that fails for want of space (a full disk, a quota, a file size
// limit) is tried again, at the same offset, until it succeeds: the spool
// waits for space instead of stopping the agent. Meanwhile the batch's
// events are held in memory (handed out if their bodies are cached), and
// later writes queue behind it; once the queue is full, Append, Ack and
// the other writes block, and with them reading the websocket and
// delivery. Any other failure (an I/O error, a file system remounted
// read-only) stops the agent at once, as waiting would not mend it and a
// supervisor may; so does a failed sync, after which the file's state is
// unknown. When the spool's own backlog is what fills the disk, it
// recovers by itself instead: see short.go.

// ErrNoSpace is what a running spool's replay and purge return while its
// writes fail for want of space.
var ErrNoSpace = errors.New("the running listen has no space to write the file")

// spacePauseMin and spacePauseMax bound the pause between two tries of a
// failed write; it doubles from the first to the second.
const (
	spacePauseMin = 50 * time.Millisecond
	spacePauseMax = 2 * time.Second
)

// spaceLogEvery is how often a write that keeps failing is logged again.
const spaceLogEvery = time.Minute

// noRetry is the context of a commit whose failed write is not tried
// again: at open and once Run is stopping.
var noRetry = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// writeBatch writes the encoded batch, of held writes, at the end of the
// file, trying a write that failed for want of space again until it
// succeeds, ctx is done or StopWaiting is called; then it returns the
// write's error. Meanwhile Paused tells since when it has been failing.
func (d *Disk) writeBatch(ctx context.Context, held int) error {
	var failedAt, loggedAt time.Time
	pause, dropped := spacePauseMin, false
	for {
		_, err := d.f.WriteAt(d.buf, d.end)
		if err == nil {
			if !failedAt.IsZero() {
				d.setFailing(false)
				// A compaction that failed for want of space waits for the
				// garbage to double (see commit); there may be room now.
				d.compactAfter = d.cfg.CompactAfter
			}
			return nil // "writing again" is said as the spool leaves short of space (endShort)
		}
		err = fmt.Errorf("spool: %s: write: %w", d.cfg.Path, unwrapPath(err))
		if !noSpace(err) || d.gaveUp(ctx, 0) {
			return d.unwrite(err)
		}
		// A compaction under way would hold space, and could not finish
		// before this write does: drop it, and its file. It starts
		// afresh once there is room (compactShort).
		if d.compacting != nil {
			dropped = true
			d.abandonCompaction()
			d.compactFailed = time.Now()
		}
		if !d.short {
			if d.beginShort(err) {
				continue // the reserve is released: at once
			}
		}
		if now := time.Now(); failedAt.IsZero() || now.Sub(loggedAt) >= spaceLogEvery {
			msg := "spool: cannot write the file (free space to go on); retrying. Events wait in memory, delivered if their bodies are cached; delivery and reading the websocket pause once the write queue is full"
			if !failedAt.IsZero() {
				msg = "spool: still cannot write the file (free space to go on); retrying"
			} else {
				failedAt = now
				d.setFailing(true)
			}
			if dropped {
				msg += " (a compaction under way was dropped, its file removed)"
			}
			loggedAt = now
			d.cfg.Logger.Error(msg, "spool", d.cfg.Path, "error", err, "for", now.Sub(failedAt).Round(time.Second).String(),
				"queued_writes", held+len(d.ops), "queue_size", cap(d.ops), "file_bytes", d.end, "live_bytes", d.live)
		}
		if d.gaveUp(ctx, pause) {
			return d.unwrite(err)
		}
		pause = min(2*pause, spacePauseMax)
	}
}

// unwrite cuts off whatever part of the batch a failed write left at the
// end of the file, so that the next start finds no torn write to cut (it
// would cut it, with a warning, if this fails too), and returns err.
func (d *Disk) unwrite(err error) error {
	if d.f.Truncate(d.end) == nil {
		datasync(d.f) // else a crash could bring the cut bytes back after the next start's first batch
	}
	return err
}

// pausing is closed when writes begin to fail for want of space (see
// pauseSig): a command waiting for its write learns it will wait long.
func (d *Disk) pausing() <-chan struct{} {
	d.pauseMu.Lock()
	defer d.pauseMu.Unlock()
	return d.pauseSig
}

// setFailing marks a write as failing for want of space and waiting to
// be tried again (on), or as gone through: a live purge, which goes on
// while the spool is short of space, waits no more than that.
func (d *Disk) setFailing(on bool) {
	d.pauseMu.Lock()
	defer d.pauseMu.Unlock()
	if on {
		d.failingAt.Store(time.Now().UnixNano())
		close(d.failSig)
		return
	}
	d.failingAt.Store(0)
	d.failSig = make(chan struct{})
}

// Paused reports how long writes have been failing for want of space,
// or 0 if they are not.
func (d *Disk) Paused() time.Duration {
	if at := d.pausedAt.Load(); at != 0 {
		return time.Since(time.Unix(0, at))
	}
	return 0
}

// gaveUp waits up to wait (0: not at all) and reports whether ctx ended or
// StopWaiting was called first.
func (d *Disk) gaveUp(ctx context.Context, wait time.Duration) bool {
	select {
	case <-ctx.Done():
		return true
	case <-d.giveUp:
		return true
	default:
	}
	if wait == 0 {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return true
	case <-d.giveUp:
		return true
	case <-t.C:
		return false
	}
}

// StopWaiting makes a write that fails, or is being tried again, end Run
// with its error at once: the agent is stopping, and the readers and
// workers blocked on a full write queue must be let go. Events not stored
// are then counted by Run's WriteError.
func (d *Disk) StopWaiting() { d.giveUpOnce.Do(func() { close(d.giveUp) }) }

// noSpace reports whether a write failed for want of space: the disk is
// full (ENOSPC), a quota is reached (EDQUOT), or the file may grow no more
// (EFBIG, a file size limit), or their equivalents on Windows.
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG) || noSpaceSystem(err)
}
