package forward

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"syscall"
	"time"
)

// transport is the default RoundTripper: for plain-HTTP handlers it does
// each exchange on the calling goroutine, writing the request and reading
// the answer on a kept-alive connection itself, with net/http's own
// Request.Write and ReadResponse. net/http's Transport hands every
// exchange to two goroutines of its own per connection instead, and on a
// small machine those hand-offs cost more than the POST. HTTPS and
// proxied requests go to fallback, a net/http Transport, or, through an
// https proxy, to that proxy's own Transport (proxyhop.go).
//
// Each attempt, dial included, is bounded by timeout through the
// connection's deadline, and ends early when the request's context does.
type transport struct {
	timeout time.Duration
	maxIdle int // idle connections kept per host
	// look: each idle connection is looked at before use (peeker), where
	// it can be; elsewhere one idle for idleCheck (idleCheckAfter) is
	// checked by a short read (usable).
	look      bool
	idleCheck time.Duration
	proxy     func(*http.Request) (*url.URL, error)
	dial      func(ctx context.Context, network, addr string) (net.Conn, error)
	fallback  http.RoundTripper
	// tls is the handler's TLS configuration (Config.TLS), for the
	// Transports of https proxies (proxyHop).
	tls *tls.Config

	mu   sync.Mutex
	idle map[string][]*keptConn // by host:port, most recently used last
	// hops are the Transports of the https proxies used, by proxy URL.
	hops map[string]*http.Transport
}

// keptConn is one connection to a handler with its buffers.
type keptConn struct {
	addr string // host:port dialled
	nc   net.Conn
	lim  *headerLimit // between nc and br: bounds an answer's header
	br   *bufio.Reader
	bw   *bufio.Writer
	used time.Time // when it was last put back idle
	peek *peeker   // nil where a socket cannot be looked at
	// abort ends the exchange on nc at once (its deadline in the past),
	// made once: the context's watch of each exchange calls it.
	abort func()
}

// idleTimeout is how long an idle connection is kept.
const idleTimeout = 90 * time.Second

// newSyncTransport returns the default transport; proxy picks the proxy
// of a request (New gives http.ProxyFromEnvironment).
func newSyncTransport(timeout time.Duration, conns int, tlsConfig *tls.Config, proxy func(*http.Request) (*url.URL, error)) *transport {
	t := &transport{
		timeout:   timeout,
		maxIdle:   conns,
		idleCheck: idleCheckAfter,
		look:      true,
		proxy:     proxy,
		dial:      (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		tls:       tlsConfig,
		idle:      make(map[string][]*keptConn),
		hops:      make(map[string]*http.Transport),
	}
	fallback := newTransport(conns, tlsConfig)
	fallback.Proxy = t.plainProxy
	t.fallback = fallback
	return t
}

// RoundTrip sends req and returns the answer, whose body must be closed.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err // sends nothing, as net/http's Transport
	}
	p, err := t.proxy(req)
	switch {
	case err == nil && p != nil && p.Scheme == "https":
		return t.via(t.proxyHop(p), req)
	case err != nil || p != nil || req.URL.Scheme != "http":
		return t.via(t.fallback, req) // it reports err
	}
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	deadline := time.Now().Add(t.timeout) // for the whole attempt, dial included
	for try := 1; ; try++ {
		c, reused, err := t.conn(req.Context(), addr, deadline)
		if err != nil {
			return nil, err
		}
		resp, unsent, err := t.exchange(req, c, deadline)
		if err == nil {
			return resp, nil
		}
		c.nc.Close()
		// Writing the request on a kept connection failed, or it was reset
		// before any answer, with no answer: the handler had closed it
		// while it was idle, or just as it was reused, and did not take
		// the event, so it goes out once more on a new connection at no
		// cost of an attempt. Once the whole request is written, a close
		// with no answer is the attempt's own: the handler may have taken
		// the event (it read the POST, then went, or a proxy between timed
		// out), so sending it again is a retry, with its wait, its attempt
		// number and its place in the history. (net/http sends a POST
		// again only when none of it was written.) A close found before
		// writing (usable) costs nothing.
		if !reused || !unsent || try > 1 || req.Context().Err() != nil {
			return nil, err
		}
		if req.Body != nil {
			if req.GetBody == nil {
				return nil, err
			}
			if req.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
	}
}

// exchange writes req on c and reads the answer's header; the answer's
// body reads the rest and puts c back, or closes it, when closed.
// unsent reports that the handler did not take the request: writing it
// failed (not by a timeout) and no answer came, or the connection was
// reset, not closed, before any answer.
//
// A handler may answer once it has read the request's header and close
// without reading the body (Go's server past 256 KiB, nginx's 413), so
// that writing the rest fails: the answer that came is the attempt's
// outcome all the same, as with net/http's Transport, and c is not kept.
func (t *transport) exchange(req *http.Request, c *keptConn, deadline time.Time) (resp *http.Response, unsent bool, err error) {
	ctx := req.Context()
	c.nc.SetDeadline(deadline)
	// The context ending (shutdown, max age) ends the exchange at once.
	stop := context.AfterFunc(ctx, c.abort)
	err = req.Write(c.bw)
	if err == nil {
		err = c.bw.Flush()
	}
	var werr error // writing the request failed, yet an answer came
	switch {
	case err == nil:
		// blocks until the answer starts
		_, err = c.br.Peek(1)
		switch {
		case err == nil, timedOut(err):
		case errors.Is(err, syscall.ECONNRESET):
			// A reset, not a close: the handler's socket was gone when
			// the request came (it closed the kept connection just then,
			// its close still on the way when usable looked), or it
			// closed with the request unread. It did not take it.
			unsent = true
			err = fmt.Errorf("connection reset after the request was sent, before any answer: %w", err)
		default:
			// A close: the handler (or a proxy) may have read the whole
			// request, and then gone.
			err = fmt.Errorf("connection lost after the request was sent, before any answer: %w", err)
		}
	case timedOut(err):
	case !time.Now().Before(deadline) && ctx.Err() == nil:
		// Writing timed out, in an error that hides it (the body's copy,
		// as Request.Write reports it): the attempt's own timeout, not a
		// request the handler did not take, to be sent again at once with
		// no time left.
		err = fmt.Errorf("writing the request: %w", os.ErrDeadlineExceeded)
	case answerCame(ctx, c, deadline):
		werr, err = err, nil
	default:
		unsent = true
	}
	for interim := 0; err == nil; interim++ {
		c.lim.left = maxHeaderBytes
		resp, err = http.ReadResponse(c.br, req)
		c.lim.left = -1
		// 1xx answers are interim (101 switches protocols: not ours to follow).
		if err == nil && (resp.StatusCode < 100 || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols) {
			break
		}
		if err == nil && interim == maxInterim {
			err = fmt.Errorf("more than %d interim (1xx) answers", maxInterim)
		}
	}
	if err != nil {
		stop()
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		if werr != nil { // part of an answer came: not unsent
			return nil, false, werr
		}
		return nil, unsent, err
	}
	resp.Body = &keptBody{rc: resp.Body, t: t, c: c, stop: stop, reuse: werr == nil && !resp.Close && !req.Close && resp.StatusCode != http.StatusSwitchingProtocols}
	return resp, false, nil
}

// earlyAnswerWait bounds how long an answer is waited for once writing
// the request failed. The failure is nearly always the handler's reset,
// which comes after any answer it sent, so the answer is there already
// or never comes; the wait only covers one still on its way.
const earlyAnswerWait = 50 * time.Millisecond

// answerCame reports whether an answer started to arrive on c, within
// earlyAnswerWait (and the attempt's deadline), after writing the request
// on it failed. It leaves c's read deadline at that bound: the connection
// is broken and is not kept, so what is left of the answer is read at
// once or not at all.
func answerCame(ctx context.Context, c *keptConn, deadline time.Time) bool {
	wait := time.Now().Add(earlyAnswerWait)
	if deadline.Before(wait) {
		wait = deadline
	}
	c.nc.SetReadDeadline(wait)
	// Checked after setting it: had the context's watch set its deadline
	// before, this one would have undone it.
	if ctx.Err() != nil {
		return false
	}
	_, err := c.br.Peek(1)
	return err == nil
}

// timedOut reports whether err is a timeout: the attempt's deadline or
// the context's watch. (Request.Write reports a failure to write the body
// as a failure to read it, in an unexported type that hides the cause:
// that one is not seen as a timeout; exchange tells it by the deadline.)
func timedOut(err error) bool {
	var nerr net.Error
	return errors.As(err, &nerr) && nerr.Timeout()
}

// maxHeaderBytes bounds the header of one answer, as net/http's
// Transport bounds it by default (MaxResponseHeaderBytes): ReadResponse
// reads a header of any size into memory.
const maxHeaderBytes = 10 << 20

// errHeaderTooLarge is the error of an answer whose header is larger than
// maxHeaderBytes.
var errHeaderTooLarge = fmt.Errorf("the answer's header is over %d MiB", maxHeaderBytes>>20)

// headerLimit reads from r at most left bytes while left is not negative
// (an answer's header is being read), then fails with errHeaderTooLarge.
type headerLimit struct {
	r    io.Reader
	left int64
}

func (l *headerLimit) Read(p []byte) (int, error) {
	if l.left < 0 {
		return l.r.Read(p)
	}
	if l.left == 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// maxInterim is the most 1xx answers read before the final one.
const maxInterim = 5

// conn returns an idle connection to addr, or dials one.
func (t *transport) conn(ctx context.Context, addr string, deadline time.Time) (*keptConn, bool, error) {
	for {
		c := t.takeIdle(addr)
		if c == nil {
			break
		}
		if t.usable(c) {
			return c, true, nil
		}
		c.nc.Close()
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	nc, err := t.dial(dctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	lim := &headerLimit{r: nc, left: -1}
	c := &keptConn{addr: addr, nc: nc, lim: lim, br: bufio.NewReader(lim), bw: bufio.NewWriter(nc)}
	c.abort = func() { nc.SetDeadline(time.Unix(1, 0)) }
	if t.look {
		c.peek = newPeeker(nc)
	}
	return c, false, nil
}

// takeIdle returns the most recently used idle connection to addr that is
// not too old, or nil.
func (t *transport) takeIdle(addr string) *keptConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	for list := t.idle[addr]; len(list) > 0; list = t.idle[addr] {
		c := list[len(list)-1]
		t.idle[addr] = list[:len(list)-1]
		if time.Since(c.used) < idleTimeout {
			return c
		}
		c.nc.Close()
	}
	return nil
}

// usable reports whether the idle connection c may carry a request:
// nothing arrived on it while it was idle, neither an answer nobody asked
// for (typically a 408 as the handler's own idle timeout ran out) nor its
// close or reset. Where the socket can be looked at without waiting
// (arrived), every reuse is checked, at the cost of one system call, so
// that a request is written on a connection the handler closed only when
// its close is still on the way (RoundTrip then counts a failure after the
// whole request was written as an attempt). Elsewhere a connection idle
// for idleCheck is checked by a read that waits a millisecond at most.
func (t *transport) usable(c *keptConn) bool {
	if c.br.Buffered() > 0 {
		return false
	}
	if came, ok := c.peek.arrived(); ok {
		return !came
	}
	return time.Since(c.used) < t.idleCheck || c.quiet()
}

// idleCheckAfter is how long a connection may sit idle before it is
// checked, where it cannot be checked at no cost (usable); under load
// connections are reused sooner and pay no check.
const idleCheckAfter = time.Second

// quiet reports whether nothing arrived on c while it was idle: no
// unsolicited answer, no close. It waits a millisecond at most.
func (c *keptConn) quiet() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	c.nc.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, err := c.br.Peek(1)
	c.nc.SetReadDeadline(time.Time{})
	var nerr net.Error
	return errors.As(err, &nerr) && nerr.Timeout()
}

// put keeps c for the next exchange with its host, or closes it when enough
// are kept.
func (t *transport) put(c *keptConn) {
	if c.br.Buffered() > 0 { // more than the answer came: not to be trusted
		c.nc.Close()
		return
	}
	c.nc.SetDeadline(time.Time{})
	c.used = time.Now()
	t.mu.Lock()
	if list := t.idle[c.addr]; len(list) < t.maxIdle {
		t.idle[c.addr] = append(list, c)
		c = nil
	}
	t.mu.Unlock()
	if c != nil {
		c.nc.Close()
	}
}

// CloseIdleConnections closes every idle connection (http.Client calls it).
func (t *transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = make(map[string][]*keptConn)
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.nc.Close()
		}
	}
	if ci, ok := t.fallback.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
	t.mu.Lock()
	hops := make([]*http.Transport, 0, len(t.hops))
	for _, h := range t.hops {
		hops = append(hops, h)
	}
	t.mu.Unlock()
	for _, h := range hops {
		h.CloseIdleConnections()
	}
}

// via sends req through rt, a net/http Transport, bounded by timeout
// until its answer's body is closed.
func (t *transport) via(rt http.RoundTripper, req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := rt.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// keptBody is an answer's body on a kept connection: once read to its
// end (or drained on Close) the connection goes back to the pool.
type keptBody struct {
	rc    io.ReadCloser
	t     *transport
	c     *keptConn
	stop  func() bool // ends the context watch; false if it fired
	reuse bool
	eof   bool
	done  bool
}

func (b *keptBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if errors.Is(err, io.EOF) {
		b.eof = true
	}
	return n, err
}

// Close drains what is left (up to drainLimit) and puts the connection
// back when the exchange ended cleanly; otherwise it closes it.
func (b *keptBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	if !b.eof && b.reuse {
		_, err := io.Copy(io.Discard, io.LimitReader(b.rc, drainLimit))
		var probe [1]byte
		if n, perr := b.rc.Read(probe[:]); err == nil && n == 0 && errors.Is(perr, io.EOF) {
			b.eof = true
		}
	}
	watched := b.stop()
	if b.eof && b.reuse && watched {
		b.rc.Close()
		b.t.put(b.c)
		return nil
	}
	// Closed first: net/http's body Close would read the rest, up to the
	// deadline, of an answer that is long or still coming.
	err := b.c.nc.Close()
	b.rc.Close()
	return err
}

// cancelBody ends a fallback request's context when its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
