package main

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"time"
)

// logBufferBytes is how many bytes of log lines wait for a log output
// that is not read (a terminal paused with Ctrl-S, `listen | less` not
// being read, a stuck log shipper) before lines are dropped: about ten
// thousand lines.
const logBufferBytes = 1 << 20

// logFlushWait bounds how long a command, as it ends, waits for its log
// lines to be written. Lines still waiting then are lost: an output not
// read for that long cannot be told so.
const logFlushWait = 3 * time.Second

// logOutput is the writer under a command's logger. Write never waits
// for the output: it hands the bytes to one goroutine that writes them,
// in order, and so a log line costs a websocket reader a copy, never the
// wait for a reader of the output. While more than max bytes wait, whole
// lines are dropped and counted; where the gap is, a notice line (made by
// notice) says how many and for how long the output was not read.
type logOutput struct {
	w      io.Writer
	max    int
	notice func(dropped int, stalled time.Duration) []byte

	mu      sync.Mutex
	buf     []byte        // lines waiting, in order
	spare   []byte        // the array of the batch written last, for reuse
	dropped int           // lines dropped since the last notice
	gapAt   int           // where in buf they were dropped
	stalled time.Time     // since when the output was not read, when dropped > 0
	writing time.Time     // when the write in progress began; zero when none
	queued  int64         // bytes ever put in buf
	written int64         // bytes of those written (or failed to)
	round   chan struct{} // closed and replaced after every write
	closing bool
	wake    chan struct{} // a send when buf grows or closing is set, dropped when full
	done    chan struct{} // closed when the goroutine ends
}

// newLogOutput starts the goroutine that owns w: it writes what Write
// hands it until Close, then writes what still waits and ends. notice
// makes the line that tells of dropped lines, in the logger's format.
func newLogOutput(w io.Writer, max int, notice func(dropped int, stalled time.Duration) []byte) *logOutput {
	o := &logOutput{w: w, max: max, notice: notice, round: make(chan struct{}),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	go o.run()
	return o
}

// Write queues p, one or more whole lines (slog writes one record per
// call), or drops it, and never waits for the output. It drops when more
// than max bytes wait, and from the first drop on until the goroutine
// takes what waits, so that the dropped lines are one gap in the output.
func (o *logOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closing {
		return len(p), nil // the command has ended: nobody reads these
	}
	if o.dropped > 0 || (len(o.buf) > 0 && len(o.buf)+len(p) > o.max) {
		if o.dropped == 0 {
			o.gapAt, o.stalled = len(o.buf), time.Now()
			if !o.writing.IsZero() {
				o.stalled = o.writing
			}
		}
		o.dropped += max(1, countLines(p))
		return len(p), nil
	}
	o.put(p)
	return len(p), nil
}

// Sync returns a writer of lines that are never dropped: each Write queues
// its lines after those already waiting, beyond max if need be, and
// returns once they are written, as a write to the output itself would.
// It is for a command's report lines (a summary, what to run next) that
// share the output with the log lines and must come after them.
func (o *logOutput) Sync() io.Writer { return syncWriter{o} }

type syncWriter struct{ o *logOutput }

func (s syncWriter) Write(p []byte) (int, error) {
	o := s.o
	o.mu.Lock()
	if o.closing {
		o.mu.Unlock()
		select {
		case <-o.done: // the goroutine has ended: the output is this caller's
			return o.w.Write(p)
		default: // still blocked on an output nobody reads: so would this be
			return len(p), nil
		}
	}
	o.put(p)
	end := o.queued
	for o.written < end {
		round := o.round
		o.mu.Unlock()
		select {
		case <-round:
		case <-o.done:
			return len(p), nil
		}
		o.mu.Lock()
	}
	o.mu.Unlock()
	return len(p), nil
}

// put appends p to what waits and wakes the goroutine; o.mu is held.
func (o *logOutput) put(p []byte) {
	o.buf = append(o.buf, p...)
	o.queued += int64(len(p))
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// run is the goroutine that owns o.w. It takes everything that waits,
// puts the notice of a gap in its place, writes it (writeLines), and
// again, until Close and nothing waits.
func (o *logOutput) run() {
	defer close(o.done)
	for {
		o.mu.Lock()
		for len(o.buf) == 0 && !o.closing {
			o.mu.Unlock()
			<-o.wake
			o.mu.Lock()
		}
		if len(o.buf) == 0 { // closing, and all written
			o.mu.Unlock()
			return
		}
		batch, n := o.buf, len(o.buf)
		o.buf, o.spare = o.spare[:0], nil
		dropped, gapAt, stalled := o.dropped, o.gapAt, o.stalled
		o.dropped = 0
		now := time.Now()
		o.writing = now
		o.mu.Unlock()

		if dropped > 0 {
			note := o.notice(dropped, now.Sub(stalled))
			batch = append(batch[:gapAt], append(note, batch[gapAt:n]...)...)
		}
		writeLines(o.w, batch)

		o.mu.Lock()
		o.writing = time.Time{}
		o.written += int64(n)
		if cap(batch) <= 2*o.max {
			o.spare = batch[:0]
		}
		close(o.round)
		o.round = make(chan struct{})
		o.mu.Unlock()
	}
}

// Close stops Write taking lines, and waits until those that wait are
// written, or for wait at most: an output still not read then keeps them
// (the goroutine stays blocked on it until the process exits). It returns
// how many bytes were left unwritten.
func (o *logOutput) Close(wait time.Duration) (unwritten int64) {
	o.mu.Lock()
	if !o.closing {
		o.closing = true // a gap still open is told at the end of what waits
		select {
		case o.wake <- struct{}{}:
		default:
		}
	}
	o.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-o.done:
	case <-t.C:
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.queued - o.written
}

// unread says how many lines were dropped and not told of yet, and since
// when the output has not been read: the start of the write still under
// way, or of the drops, whichever came first (now when neither).
func (o *logOutput) unread() (dropped int, since time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	since = time.Now()
	if !o.writing.IsZero() && o.writing.Before(since) {
		since = o.writing
	}
	if o.dropped > 0 && o.stalled.Before(since) {
		since = o.stalled
	}
	return o.dropped, since
}

// atomicWrite is the most bytes a write to a pipe puts in it in one
// piece (PIPE_BUF on Linux, and at least POSIX's 512 elsewhere): another
// writer to the same pipe (stderr, with `2>&1 |`) cannot cut a line of
// such a write in two.
const atomicWrite = 4096

// writeLines writes b to w in writes of whole lines, each of atomicWrite
// bytes at most unless one line is longer. An error (EPIPE: the output was
// closed) loses the lines, as it lost the line of a logger that wrote to
// the output itself.
func writeLines(w io.Writer, b []byte) {
	for len(b) > 0 {
		n := len(b)
		if n > atomicWrite {
			n = bytes.LastIndexByte(b[:atomicWrite], '\n') + 1
			if n == 0 { // one line longer than atomicWrite
				if n = bytes.IndexByte(b, '\n') + 1; n == 0 {
					n = len(b)
				}
			}
		}
		_, _ = w.Write(b[:n])
		b = b[n:]
	}
}

// countLines is the number of lines in p: its newlines, and one more for
// an unterminated tail.
func countLines(p []byte) int {
	n := 0
	for _, b := range p {
		if b == '\n' {
			n++
		}
	}
	if len(p) > 0 && p[len(p)-1] != '\n' {
		n++
	}
	return n
}

// droppedMessage is the notice of dropped log lines.
func droppedMessage(dropped int, stalled time.Duration) string {
	lines := "lines"
	if dropped == 1 {
		lines = "line"
	}
	return fmt.Sprintf("%d log %s dropped: the log output was not read for %s", dropped, lines, roundStall(stalled))
}

// roundStall rounds d for a reader: milliseconds below a second, tenths
// of a second above.
func roundStall(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}
