package forward

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestTransportHandlerClosedIdleConnection: a handler that closed a kept
// connection while it was idle costs no attempt: the event goes out once
// more on a new connection.
func TestTransportHandlerClosedIdleConnection(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(http.StatusNoContent) })
	f := newForwarder(t, rc.URL+"/hook", Config{MaxAttempts: 1})
	ctx := context.Background()
	for i := range 3 {
		if res := f.Deliver(ctx, Request{Body: []byte(jsonEvent)}); res.Err != nil || res.Attempts != 1 {
			t.Fatalf("delivery %d: %+v, want delivered in 1 attempt", i, res)
		}
		rc.CloseClientConnections()
	}
	if n := len(rc.recorded()); n != 3 {
		t.Fatalf("handler saw %d requests, want 3", n)
	}
}

// TestTransportAnswerBodies: answers with a chunked body are read to the
// end and their connection kept; a body too long to drain closes its
// connection instead; both count as delivered.
func TestTransportAnswerBodies(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Path == "/long" {
			w.Write([]byte(strings.Repeat("x", 4*drainLimit)))
			return
		}
		w.(http.Flusher).Flush() // chunked
		w.Write([]byte("ok"))
	})
	ctx := context.Background()
	chunked := newForwarder(t, rc.URL+"/chunked", Config{})
	for range 5 {
		if res := chunked.Deliver(ctx, Request{Body: []byte(jsonEvent)}); res.Err != nil || res.Status != 200 {
			t.Fatalf("chunked answer: %+v", res)
		}
	}
	if n := rc.conns.Load(); n != 1 {
		t.Fatalf("%d connections for 5 chunked answers, want 1 kept", n)
	}
	long := newForwarder(t, rc.URL+"/long", Config{})
	for range 2 {
		if res := long.Deliver(ctx, Request{Body: []byte(jsonEvent)}); res.Err != nil || res.Status != 200 {
			t.Fatalf("long answer: %+v", res)
		}
	}
	if n := rc.conns.Load(); n != 3 {
		t.Fatalf("%d connections after 2 long answers, want 1 more for each", n)
	}
}

// TestTransportHTTPS: an https handler is reached through net/http's
// Transport, with the same per-attempt timeout.
func TestTransportHTTPS(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	trusting := func(url string, timeout time.Duration) *Forwarder {
		cfg := Config{URL: url, Timeout: timeout, MaxAttempts: 1}
		if _, err := cfg.check(); err != nil {
			t.Fatal(err)
		}
		cfg.Transport.(*transport).fallback.(*http.Transport).TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
		return newForwarder(t, url, cfg)
	}
	ctx := context.Background()
	if res := trusting(srv.URL+"/hook", time.Second).Deliver(ctx, Request{Body: []byte(jsonEvent)}); res.Err != nil || res.Status != http.StatusAccepted {
		t.Fatalf("https delivery: %+v", res)
	}
	res := trusting(srv.URL+"/slow", 50*time.Millisecond).Deliver(ctx, Request{Body: []byte(jsonEvent)})
	if res.Err == nil || !strings.Contains(res.Err.Error(), "timed out") {
		t.Fatalf("slow https handler: %+v, want a timeout", res)
	}
}

// TestTransportStaleAnswerOnIdleConnection: a handler that answered on an
// idle kept connection (a 408 as its idle timeout ran out) and closed it
// does not fail the next event: the connection is checked and replaced.
func TestTransportStaleAnswerOnIdleConnection(t *testing.T) {
	url, requests, stale := oneShotServer(t, func(c net.Conn) { // a 408 as its idle timeout runs out, and a close
		io.WriteString(c, "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
	})
	cfg := Config{URL: url, MaxAttempts: 1}
	if _, err := cfg.check(); err != nil {
		t.Fatal(err)
	}
	cfg.Transport.(*transport).idleCheck = 0 // check every reuse
	f := newForwarder(t, cfg.URL, cfg)
	ctx := context.Background()
	if res := f.Deliver(ctx, Request{ID: "first", Body: []byte(jsonEvent)}); res.Err != nil || res.Status != http.StatusNoContent {
		t.Fatalf("first delivery: %+v", res)
	}
	<-stale
	if res := f.Deliver(ctx, Request{ID: "second", Body: []byte(jsonEvent)}); res.Err != nil || res.Status != http.StatusNoContent {
		t.Fatalf("delivery after a stale 408: %+v, want the handler's 204", res)
	}
	if first, second := <-requests, <-requests; first != "first" || second != "second" {
		t.Fatalf("handler saw %q then %q", first, second)
	}
}

// TestTransportLongAnswerStillComing: a 2xx whose body is long and still
// streaming counts as delivered at once; the connection is dropped rather
// than read to the end (which would hold the worker until the timeout).
func TestTransportLongAnswerStillComing(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.Write([]byte(strings.Repeat("x", 4*drainLimit)))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	const timeout = time.Minute
	f := newForwarder(t, rc.URL+"/hook", Config{Timeout: timeout})
	start := time.Now()
	res := f.Deliver(context.Background(), Request{Body: []byte(jsonEvent)})
	if res.Err != nil || res.Status != http.StatusOK {
		t.Fatalf("Deliver = %+v, want delivered", res)
	}
	if took := time.Since(start); took > timeout/2 {
		t.Fatalf("Deliver took %s: it waited for the rest of the answer", took)
	}
}

// TestTransportBodyWriteTimesOut: a handler that stops reading a large
// event's body makes each attempt time out while the body is written, on
// a kept connection as on a new one. That is the attempt's timeout, said
// as such, not a request the handler did not take: it was sent again at
// no cost, with the attempt's deadline already past, and on a new
// connection its error did not say it timed out.
func TestTransportBodyWriteTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stalled := make(chan struct{}, 4) // a big event's head read, its body not
	done := make(chan struct{})
	serveRaw(t, ln, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if req.ContentLength > 1<<20 {
				stalled <- struct{}{}
				<-done // reads no more of it
				return
			}
			if _, err := io.Copy(io.Discard, req.Body); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
		}
	})
	t.Cleanup(func() { close(done) }) // before serveRaw's: its connections' goroutines return
	f := newForwarder(t, "http://"+ln.Addr().String()+"/hook", Config{Timeout: 300 * time.Millisecond, MaxAttempts: 2})
	ctx := context.Background()
	if res := f.Deliver(ctx, Request{Body: []byte(jsonEvent)}); res.Err != nil {
		t.Fatal(res.Err) // its connection is kept, for the big event's first attempt
	}
	res := f.Deliver(ctx, Request{Body: bytes.Repeat([]byte("x"), 32<<20)})
	if res.Err == nil || res.Attempts != 2 || len(res.History) != 2 {
		t.Fatalf("Deliver = %+v, want 2 failed attempts", res)
	}
	if msg := res.Err.Error(); !strings.Contains(msg, "timed out (limit 300ms per attempt)") {
		t.Errorf("Err = %q, want the attempt's timeout", msg)
	}
	for i, a := range res.History {
		if !strings.Contains(a.Err, "timed out") {
			t.Errorf("attempt %d: %q, want a timeout", i+1, a.Err)
		}
	}
	if n := len(stalled); n != 2 {
		t.Errorf("the handler got %d heads of the big event, want 2: one an attempt", n)
	}
}
