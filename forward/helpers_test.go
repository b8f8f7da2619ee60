package forward

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hit is one request as the handler saw it.
type hit struct {
	path   string
	host   string
	header http.Header
	body   []byte
}

// receiver is a local webhook handler on loopback that records every
// request before answering it with respond (n counts requests from 1).
type receiver struct {
	*httptest.Server
	conns atomic.Int32 // connections accepted

	mu   sync.Mutex
	hits []hit
}

func newReceiver(t testing.TB, respond func(w http.ResponseWriter, r *http.Request, n int)) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("handler: read body: %v", err)
		}
		rc.mu.Lock()
		rc.hits = append(rc.hits, hit{path: r.URL.Path, host: r.Host, header: r.Header.Clone(), body: body})
		n := len(rc.hits)
		rc.mu.Unlock()
		respond(w, r, n)
	}))
	rc.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			rc.conns.Add(1)
		}
	}
	rc.Start()
	t.Cleanup(rc.Close)
	return rc
}

// statuses answers request n with codes[n-1], repeating the last code.
func statuses(codes ...int) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, n int) {
		code := codes[min(n, len(codes))-1]
		switch code {
		case http.StatusFound:
			w.Header().Set("Location", "/elsewhere")
		case http.StatusTooManyRequests:
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(code)
		io.WriteString(w, "answer body\n")
	}
}

func (rc *receiver) recorded() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

// newForwarder returns a Forwarder for url with millisecond waits, closed
// when the test ends. Fields set in cfg win.
func newForwarder(t testing.TB, url string, cfg Config) *Forwarder {
	t.Helper()
	cfg.URL = url
	setDefault(&cfg.RetryWaitMin, time.Millisecond)
	setDefault(&cfg.RetryWaitMax, 2*time.Millisecond)
	setDefault(&cfg.Timeout, 5*time.Second)
	f, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(f.Close)
	return f
}

// closedPort returns a loopback URL whose port refuses connections.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/hook"
}

// records is a slog.Handler that passes each record to a channel, dropping
// it when the channel is full.
type records chan slog.Record

func (r records) Enabled(context.Context, slog.Level) bool { return true }
func (r records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r records) WithGroup(string) slog.Handler            { return r }
func (r records) Handle(_ context.Context, rec slog.Record) error {
	select {
	case r <- rec.Clone():
	default:
	}
	return nil
}

// oneShotServer is a handler on a raw listener that answers each request
// 204 and closes its connection; after the first answer, afterFirst runs
// on that connection (a stale answer, a reset) before it is closed, and
// then the returned channel closes. requests gets each request's delivery
// id. The listener closes on cleanup, ending its goroutine.
func oneShotServer(t *testing.T, afterFirst func(c net.Conn)) (url string, requests <-chan string, firstDone <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan struct{})
	got := make(chan string, 4)
	go func() { // ends when the listener closes
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			req, err := http.ReadRequest(bufio.NewReader(c))
			if err != nil {
				c.Close()
				continue
			}
			io.Copy(io.Discard, req.Body)
			got <- req.Header.Get("X-Dialpad-Tunnel-Delivery-Id")
			io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
			if n == 0 {
				afterFirst(c)
			}
			c.Close()
			if n == 0 {
				close(done)
			}
		}
	}()
	return "http://" + ln.Addr().String() + "/hook", got, done
}
