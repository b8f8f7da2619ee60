package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"io"
	"net/http"
	neturl "net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/valyala/fastjson"
)

// conn is one websocket connection. Its reader goroutine (started by
// source.run) makes every ReadMessage call; other goroutines only use
// WriteControl, which gorilla allows concurrently.
type conn struct {
	id     uint64 // unique in the process, for duplicate checks
	ws     *websocket.Conn
	name   string    // e.g. "websocket 1000 #3", for logs
	opened time.Time // when the handshake completed
	dialed time.Time // when its dial began: no frame sent before can come on it (dedupe)
	expiry time.Time // token exp; zero when unknown
	err    error     // why reading stopped; set by the reader before it reports
	// endedAt is when the reader found the connection ended (its last
	// read failed); set with err. The source's goroutine may see the end
	// only later, after a newer connection's open.
	endedAt time.Time
	closeBy time.Time // when to force-close a retiring conn; owned by source.run
	retired time.Time // when the close frame was sent; owned by source.run
	forced  bool      // its reading was ended by us, the close handshake unfinished; owned by source.run
	// silentTo is, for a connection replaced while its pong was overdue
	// (see source.run's suspect), when the replacement opened; zero
	// otherwise. Owned by source.run.
	silentTo time.Time
	// replacedAt is when the connection that took over from it opened
	// (a rotation, a replacement for a late pong); zero while it is the
	// active one. Owned by source.run.
	replacedAt time.Time

	lastPong  atomic.Int64    // monoNanos of the last pong (or the open); written by the reader
	lastFrame atomic.Int64    // monoNanos of the last data frame; written by the reader
	first     chan struct{}   // closed by the reader at the first data frame
	parser    fastjson.Parser // used by the reader (accept) only

	closing  atomic.Bool   // our close frame is sent (retire, by source.run): no more pings, its frames show the server is there
	pongLate atomic.Bool   // the pong deadline passed; set once, by the deadline's timer
	late     chan struct{} // closed when pongLate is set

	// accepting is when the reader began handing the current frame to the
	// queue (monoNanos), 0 while it reads. A queue that cannot take the
	// frame (a spool waiting for disk space) blocks it there, and the
	// server's pongs wait unread in the socket: that time is not the
	// server's fault, and does not count against the pong deadline.
	accepting atomic.Int64
	// pongExcused is set by the deadline's timer when it found the reader
	// accepting, so that the reader sets the deadline again after.
	pongExcused atomic.Bool
	// heldUntil is when the reader last came back from a hand-over that
	// held it up (monoNanos): frames may still wait in the socket.
	heldUntil atomic.Int64
	// stalledUntil is when the reader last came back from a hand-over of
	// stallHold or more (monoNanos): long enough for a server to give up
	// on a connection that does not read.
	stalledUntil atomic.Int64
	// stalledFor is how long that hand-over took (nanoseconds).
	stalledFor atomic.Int64
	// waitedUntil is when the reader last came back from a hand-over of a
	// tenth of the pong deadline or more (monoNanos): a wait for the
	// queue, after which a backlog may take a while to read. (Shorter
	// hand-overs, a millisecond under load, say, are not waits.)
	waitedUntil atomic.Int64

	// older are the connections of the same source that were open when
	// this one opened (set before its reader starts; then the reader's,
	// which lets go of them at the first frame or when it ends).
	// Its frames are handed over only once each of them has ended, so
	// none overtakes a frame sent earlier and still unread on an older
	// connection. done is closed once the reader has handed over its last
	// frame.
	older []*conn
	done  chan struct{}
	// passed is closed (by source.run, once) when a closing connection is
	// kept only for what its server may still send after a stall of its
	// reader (resumingAfterStall): the newer connections no longer wait
	// for it. What it reads after that goes after their frames.
	passed     chan struct{}
	passedOnce sync.Once
	// waitedOlder is set by the reader when awaitOlder held it up, until
	// accept has re-armed the duplicate checks for the copies it now
	// reads of what the older connections carried (reader-owned).
	waitedOlder bool
}

// awaitOlder waits until every older connection of the source has ended
// (at once in the steady state: there is none). Before a rotation's new
// connection hands over its first frame, the old one reads what is left
// in its socket up to the server's close; after a spool stall, the
// connections opened meanwhile are read oldest first.
func (c *conn) awaitOlder() {
	for _, o := range c.older {
		select {
		case <-o.done:
		case <-o.passed:
		}
	}
	c.older = nil
}

// letNewerOn stops the newer connections from waiting for c (passed).
func (c *conn) letNewerOn() { c.passedOnce.Do(func() { close(c.passed) }) }

// heldUpWithin reports whether the reader is held up handing a frame to
// the queue, or was within d before now.
func (c *conn) heldUpWithin(now time.Time, d time.Duration) bool {
	return c.blocked() || now.Sub(monoTime(c.heldUntil.Load())) < d
}

// readingSince is when a closing connection's reader began to read on
// freely: our close frame, or its last wait for the queue if later.
// Called by source.run, which owns retired.
func (c *conn) readingSince() time.Time {
	return later(c.retired, monoTime(c.waitedUntil.Load()))
}

// readWithin reports whether the reader read a frame within d before now.
func (c *conn) readWithin(now time.Time, d time.Duration) bool {
	return now.Sub(monoTime(c.lastFrame.Load())) < d
}

// heldUp is how long a hand-over must take to count as holding the reader
// up (heldUntil); a spool takes an event in microseconds.
const heldUp = time.Millisecond

// stallHold is how long a hand-over must take to count as a stall
// (stalledUntil).
const stallHold = time.Second

// stalledWithin reports whether the reader is stalled now (held up for
// stallHold or more), or was within d before now.
func (c *conn) stalledWithin(now time.Time, d time.Duration) bool {
	if at := c.accepting.Load(); at != 0 && now.Sub(monoTime(at)) >= stallHold {
		return true
	}
	return now.Sub(monoTime(c.stalledUntil.Load())) < d
}

// resumingAfterStall reports whether the reader came back from a stall
// lately enough that the server may not have resumed sending yet: while a
// stalled reader's socket is full, the server's TCP probes the closed
// window at ever longer intervals (up to two minutes), so what it still
// holds may come up to about as long after the stall as the stall lasted.
// Until then (and closeWait more) a quiet closing connection is not the
// end of its frames.
func (c *conn) resumingAfterStall(now time.Time, closeWait time.Duration) bool {
	until := c.resumeUntil()
	return !until.IsZero() && now.Before(until.Add(closeWait))
}

// resumeUntil is how long after the last stall of the reader the server
// may yet resume sending (see resumingAfterStall); zero if it never
// stalled.
func (c *conn) resumeUntil() time.Time {
	until := c.stalledUntil.Load()
	if until == 0 {
		return time.Time{}
	}
	return monoTime(until).Add(min(time.Duration(c.stalledFor.Load()), maxProbeInterval))
}

// maxProbeInterval is the longest interval between a TCP sender's probes
// of a closed window (Linux's TCP_RTO_MAX).
const maxProbeInterval = 2 * time.Minute

// blocked reports whether the reader is handing a frame to the queue now.
func (c *conn) blocked() bool { return c.accepting.Load() != 0 }

// connIDs numbers the connections.
var connIDs atomic.Uint64

// newConn wraps an open websocket.
func newConn(ws *websocket.Conn, name string, expiry time.Time) *conn {
	c := &conn{id: connIDs.Add(1), ws: ws, name: name, opened: time.Now(), expiry: expiry, first: make(chan struct{}), late: make(chan struct{}), done: make(chan struct{}), passed: make(chan struct{})}
	c.lastPong.Store(monoNanos(c.opened))
	return c
}

// lastHeard is when the server was last heard from (pong or frame).
func (c *conn) lastHeard() time.Time {
	return monoTime(max(c.lastPong.Load(), c.lastFrame.Load()))
}

// lostAt is when an ended connection stopped carrying what the server
// sent: when its reader found it ended, or, after a read timeout, when it
// was last heard from (nothing was read after that).
func (c *conn) lostAt() time.Time {
	if isTimeout(c.err) {
		return c.lastHeard()
	}
	return c.endedAt
}

// handshakeError is a refused websocket handshake (HTTP status instead of
// 101). Its text never contains the URL.
type handshakeError struct{ status int }

func (e *handshakeError) Error() string {
	return fmt.Sprintf("websocket handshake refused: %d %s", e.status, http.StatusText(e.status))
}

// dial opens a websocket to url within the handshake timeout.
func dial(ctx context.Context, cfg Config, url string) (*websocket.Conn, error) {
	d := websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: cfg.HandshakeTimeout,
		ReadBufferSize:   16 << 10,
		WriteBufferSize:  1 << 10,
	}
	ws, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, &handshakeError{status: resp.StatusCode}
		}
		if errors.Is(err, websocket.ErrBadHandshake) {
			return nil, err
		}
		var ue *neturl.Error
		if errors.As(err, &ue) {
			// Its text quotes the whole URL, token included.
			return nil, fmt.Errorf("websocket dial %s: %s: %w", dialpad.RedactURL(url), ue.Op, ue.Err)
		}
		return nil, fmt.Errorf("websocket dial %s: %w", dialpad.RedactURL(url), err)
	}
	return ws, nil
}

// keepReadBuffer is the largest read buffer kept for the next frame; a
// larger frame's buffer is dropped after it, so it is not held for the
// connection's life.
const keepReadBuffer = 64 << 10

// frames is what read does with each data frame: accept it, or, when it
// holds more than max bytes, read it to its end without keeping it and
// report it to tooLarge with its size, the connection going on.
type frames struct {
	max      int64
	accept   func(c *conn, data []byte)
	tooLarge func(c *conn, size int64)
}

// read reads messages until the connection fails or closes, handing each
// data frame to f. A peer that stops answering pings ends the loop
// after PongWait, but only once every frame it sent before is read: the
// pong deadline shuts the socket's read side (see pongOverdue) instead of
// being a read deadline, since a read past its deadline fails at once,
// with frames that already arrived still unread in the socket. Time spent
// blocked in accept (a queue that cannot take the frame), or waiting for
// older connections (awaitOlder), does not count against the deadline.
// read closes the socket, then done, before it returns; it lets go of
// older when it returns.
func (c *conn) read(pongWait time.Duration, f frames) {
	defer close(c.done)
	defer c.ws.Close()
	// One that ends before its first frame never waited for the older
	// connections: let go of them, or each would keep its own older ones.
	defer func() { c.older = nil }()
	// Armed by Reset once the variable is set, so that the callback sees
	// it set (a Reset happens before the run it arms).
	var deadline *time.Timer
	deadline = time.AfterFunc(time.Hour, func() {
		select {
		case <-c.done:
			return // the reader has ended (it may have stopped the timer as this ran)
		default:
		}
		c.pongExcused.Store(true) // first: see after accept below
		if c.blocked() {
			return
		}
		// Short hand-overs since the last pong were credited to it
		// (below) without setting the deadline again: set it now for what
		// is left, if anything.
		if left := time.Until(monoTime(c.lastPong.Load()).Add(pongWait)); left > 0 {
			deadline.Reset(left)
			return
		}
		// A closing connection is not pinged, and after a stall its server
		// may resume sending only a while later: until then source.run,
		// not the deadline, decides its end.
		if left := time.Until(c.resumeUntil()); c.closing.Load() && left > 0 {
			deadline.Reset(left + pongWait)
			return
		}
		c.pongOverdue()
	})
	deadline.Reset(pongWait)
	defer deadline.Stop()
	c.ws.SetPongHandler(func(string) error {
		c.lastPong.Store(monoNanos(time.Now()))
		if !c.pongLate.Load() {
			deadline.Reset(pongWait)
		}
		return nil
	})
	// Each frame is read into buf, reused, and copied out at its exact
	// size: one allocation per frame, where ReadMessage grows a slice from
	// 512 bytes (three allocations and copies for a 1 KiB event).
	var buf bytes.Buffer
	var limit io.LimitedReader // reused: io.LimitReader allocated one per frame
	for {
		_, r, err := c.ws.NextReader()
		size := int64(0)
		if err == nil {
			buf.Reset()
			// A frame past the limit is read on, but not kept: the
			// frames behind it are read as usual. (gorilla's read limit
			// would end the connection, and the frames queued behind it,
			// in the socket and at the server, with it.)
			limit.R, limit.N = r, f.max+1
			size, err = buf.ReadFrom(&limit)
			limit.R = nil
			if err == nil && size > f.max {
				var rest int64
				rest, err = io.Copy(io.Discard, r)
				size += rest
				f.tooLarge(c, size)
			}
		}
		if err != nil {
			c.err, c.endedAt = err, time.Now()
			if c.pongLate.Load() && endedByUs(err) {
				c.err = errNoPong
			}
			return
		}
		tooLarge := size > f.max
		var data []byte
		if !tooLarge {
			data = bytes.Clone(buf.Bytes())
		}
		if buf.Cap() > keepReadBuffer {
			buf = bytes.Buffer{}
		}
		start := time.Now()
		if c.lastFrame.Swap(monoNanos(start)) == 0 {
			close(c.first)
		}
		if tooLarge { // reported above
			continue
		}
		if c.closing.Load() {
			// A closing connection is not pinged: the frames it still
			// carries, before the server's close reply, show the server is
			// there (a backlog after a wait for the queue may take longer
			// than the pong deadline to read).
			c.lastPong.Store(monoNanos(start))
		}
		c.accepting.Store(monoNanos(start)) // waiting for older connections too
		if len(c.older) > 0 {
			c.awaitOlder()
			c.waitedOlder = time.Since(start) >= heldUp
		}
		f.accept(c, data)
		blocked := time.Since(start)
		// Credited before the hand-over is marked ended: a deadline that
		// fires in between sees it still under way (blocked) or sees the
		// credit, never neither, which ended a connection one hand-over
		// early.
		last := c.lastPong.Add(int64(blocked))
		c.accepting.Store(0)
		if blocked >= heldUp {
			c.heldUntil.Store(monoNanos(start.Add(blocked)))
		}
		if blocked >= pongWait/10 {
			c.waitedUntil.Store(monoNanos(start.Add(blocked)))
		}
		if blocked >= stallHold {
			c.stalledFor.Store(int64(blocked))
			c.stalledUntil.Store(monoNanos(start.Add(blocked)))
		}
		// Every hand-over moves the last pong on by its length: a reader
		// paced by a full queue, handing over one frame every few
		// milliseconds, leaves the server's pongs unread behind the
		// frames, and must not be taken for a dead connection. (A review
		// saw one dropped that way, and the events still in the server's
		// buffers lost.) A long one (or one the deadline fired in) also
		// sets the deadline again, for what is left of it; the deadline
		// itself looks at the credited time before it ends the reading.
		// The timer sets pongExcused before it looks at accepting, so a
		// deadline that found the reader accepting is always seen here.
		if blocked >= pongWait/10 || c.pongExcused.Swap(false) {
			if !c.pongLate.Load() {
				deadline.Reset(time.Until(monoTime(last).Add(pongWait)))
			}
		}
	}
}

// pongOverdue ends reading once the socket holds nothing more: it shuts the
// read side of the TCP connection, so the reader still gets every byte that
// arrived and then end of file. That is Linux's shutdown(SHUT_RD); other
// systems may drop what is queued, as the read deadline this replaces did.
// It runs on the deadline's timer goroutine.
func (c *conn) pongOverdue() {
	if !c.pongLate.CompareAndSwap(false, true) {
		return
	}
	close(c.late)
	c.shutRead()
}

// shutRead ends reading once the socket holds nothing more (see
// pongOverdue); where it cannot, at once.
func (c *conn) shutRead() {
	nc := c.ws.NetConn()
	if t, ok := nc.(*tls.Conn); ok {
		nc = t.NetConn()
	}
	if s, ok := nc.(interface{ CloseRead() error }); ok && s.CloseRead() == nil {
		return
	}
	// Not a TCP socket (or already closed): end the read at once.
	c.ws.SetReadDeadline(time.Now())
}

// errNoPong is why a connection ended when its pong deadline passed.
var errNoPong error = pongTimeout{}

type pongTimeout struct{}

func (pongTimeout) Error() string { return "no pong within the deadline" }
func (pongTimeout) Timeout() bool { return true }

// endedByUs reports whether err is how a read ends once pongOverdue shut
// the socket: end of file (gorilla's abnormal closure) or, where the read
// side could not be shut, the deadline. Any other error (a close frame
// from the server, a frame over the read limit) is kept.
func endedByUs(err error) bool {
	var ce *websocket.CloseError
	return (errors.As(err, &ce) && ce.Code == websocket.CloseAbnormalClosure) || isTimeout(err)
}

// ping sends one ping control frame.
func (c *conn) ping(writeWait time.Duration) error {
	return c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait))
}

// retire sends a normal close frame; the reader keeps reading until the
// server's echo arrives, so frames already in flight are not lost.
func (c *conn) retire(writeWait, closeWait time.Duration, reason string) {
	c.closing.Store(true)
	c.retired = time.Now()
	c.closeBy = c.retired.Add(closeWait)
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, reason)
	// A close frame that cannot be written (a broken connection) is no
	// reason to drop what the socket still holds: the close wait ends it.
	_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeWait))
}

// closeReason describes why a connection's reader stopped, for logs.
func closeReason(err error) string {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce) && ce.Code == websocket.CloseAbnormalClosure:
		return "connection lost without a close frame"
	case errors.As(err, &ce):
		if ce.Text != "" {
			return fmt.Sprintf("closed by server: %d %s", ce.Code, ce.Text)
		}
		return fmt.Sprintf("closed by server: %d", ce.Code)
	case isTimeout(err):
		return "no pong within the deadline"
	case err == nil:
		return "closed"
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
