package forward

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// transport is the default RoundTripper: for plain-HTTP handlers it does
// each exchange on the calling goroutine, writing the request and reading
// the answer on a kept-alive connection itself, with net/http's own
// Request.Write and ReadResponse. net/http's Transport hands every
// exchange to two goroutines of its own per connection instead, and on a
// small machine those hand-offs cost more than the POST. HTTPS and
// proxied requests go to fallback, a net/http Transport.
//
// Each exchange is bounded by timeout through the connection's deadline,
// and ends early when the request's context does.
type transport struct {
	timeout  time.Duration
	maxIdle  int // idle connections kept per host
	proxy    func(*http.Request) (*url.URL, error)
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	fallback http.RoundTripper

	mu   sync.Mutex
	idle map[string][]*keptConn // by host:port, most recently used last
}

// keptConn is one connection to a handler with its buffers.
type keptConn struct {
	addr string // host:port dialled
	nc   net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	used time.Time // when it was last put back idle
}

// idleTimeout is how long an idle connection is kept.
const idleTimeout = 90 * time.Second

func newSyncTransport(timeout time.Duration, conns int) *transport {
	return &transport{
		timeout:  timeout,
		maxIdle:  conns,
		proxy:    http.ProxyFromEnvironment,
		dial:     (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		fallback: newTransport(conns),
		idle:     make(map[string][]*keptConn),
	}
}

// RoundTrip sends req and returns the answer, whose body must be closed.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" {
		return t.viaFallback(req)
	}
	if p, err := t.proxy(req); err != nil || p != nil {
		return t.viaFallback(req)
	}
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	for {
		c, reused, err := t.conn(req.Context(), addr)
		if err != nil {
			return nil, err
		}
		resp, unanswered, err := t.exchange(req, c)
		if err == nil {
			return resp, nil
		}
		c.nc.Close()
		// A kept connection the handler closed while it was idle fails
		// before any answer: try once more on a new one. (net/http does so
		// for a POST only with an idempotency key; the delivery id is ours.)
		if !reused || !unanswered || req.Context().Err() != nil {
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
// unanswered reports a failure (not a timeout) before any byte of an
// answer arrived.
func (t *transport) exchange(req *http.Request, c *keptConn) (resp *http.Response, unanswered bool, err error) {
	ctx := req.Context()
	c.nc.SetDeadline(time.Now().Add(t.timeout))
	// The context ending (shutdown, max age) ends the exchange at once.
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	err = req.Write(c.bw)
	if err == nil {
		err = c.bw.Flush()
	}
	if err == nil {
		_, err = c.br.Peek(1) // blocks until the answer starts
	}
	if err != nil {
		var nerr net.Error
		unanswered = !errors.As(err, &nerr) || !nerr.Timeout()
	}
	for err == nil {
		resp, err = http.ReadResponse(c.br, req)
		// 1xx answers are interim (101 switches protocols: not ours to follow).
		if err == nil && (resp.StatusCode < 100 || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols) {
			break
		}
	}
	if err != nil {
		stop()
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		return nil, unanswered, err
	}
	resp.Body = &keptBody{rc: resp.Body, t: t, c: c, stop: stop, reuse: !resp.Close && !req.Close && resp.StatusCode != http.StatusSwitchingProtocols}
	return resp, false, nil
}

// conn returns an idle connection to addr, or dials one.
func (t *transport) conn(ctx context.Context, addr string) (*keptConn, bool, error) {
	t.mu.Lock()
	for list := t.idle[addr]; len(list) > 0; list = t.idle[addr] {
		c := list[len(list)-1]
		t.idle[addr] = list[:len(list)-1]
		if time.Since(c.used) < idleTimeout {
			t.mu.Unlock()
			return c, true, nil
		}
		c.nc.Close()
	}
	t.mu.Unlock()
	dctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	nc, err := t.dial(dctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	return &keptConn{addr: addr, nc: nc, br: bufio.NewReader(nc), bw: bufio.NewWriter(nc)}, false, nil
}

// put keeps c for the next exchange with its host, or closes it when enough
// are kept.
func (t *transport) put(c *keptConn) {
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
}

// viaFallback sends req through the net/http Transport, bounded by timeout
// until its answer's body is closed.
func (t *transport) viaFallback(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.fallback.RoundTrip(req.WithContext(ctx))
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
	b.rc.Close()
	watched := b.stop()
	if b.eof && b.reuse && watched {
		b.t.put(b.c)
		return nil
	}
	return b.c.nc.Close()
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
