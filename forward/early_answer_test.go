package forward

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// bigEvent is an event larger than loopback's socket buffers take in, so
// that writing it fails once the handler stops reading (--max-frame-bytes
// allows up to 64 MiB).
func bigEvent() []byte {
	return []byte(`{"pad":"` + strings.Repeat("x", 32<<20) + `"}`)
}

// answerEarly serves one connection on ln as a handler that answers once
// it has read the request's header and closes without reading the body:
// it writes answer, then (after a FIN and a pause of linger, as Go's own
// server does with a body it will not read: closeWriteAndWait) closes,
// which resets the connection as the body is unread. With linger 0 it
// closes at once, as a proxy refusing the body may. The pause is the
// behaviour modelled, not a wait for the client. It reports each request
// header it read on seen and returns once ln is closed.
func answerEarly(ln net.Listener, answer string, linger time.Duration, seen chan<- string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if req, err := http.ReadRequest(bufio.NewReader(c)); err == nil { // the header only
			seen <- req.Header.Get("X-Dialpad-Tunnel-Delivery-Id")
			io.WriteString(c, answer)
		}
		if linger > 0 {
			c.(*net.TCPConn).CloseWrite()
			time.Sleep(linger)
		}
		c.Close()
	}
}

// TestTransportEarlyAnswerBeforeBodyWritten: a handler (or a proxy in
// front of it, as nginx with 413 past client_max_body_size) may answer as
// soon as it has read the request's header and close without reading the
// body, so that writing the rest of it fails. The answer is what the event
// gets all the same, as with net/http's Transport: a 2xx is delivered (not
// sent again), a 413 is final; neither is a transport error retried until
// --max-age.
func TestTransportEarlyAnswerBeforeBodyWritten(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer string
		status int
		linger time.Duration
		std    bool // through net/http's Transport (the fallback), for comparison
	}{
		{"200 Go server", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 200, 500 * time.Millisecond, false},
		{"413 Go server", "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 413, 500 * time.Millisecond, false},
		{"200 reset at once", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 200, 0, false},
		{"413 reset at once", "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 5\r\nConnection: close\r\n\r\nlarge", 413, 0, false},
		{"200 net/http", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 200, 500 * time.Millisecond, true},
		{"413 net/http", "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 413, 500 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			seen := make(chan string, 4)
			served := make(chan struct{})
			go func() {
				defer close(served)
				answerEarly(ln, tc.answer, tc.linger, seen)
			}()
			cfg := Config{MaxAttempts: 1}
			if tc.std {
				cfg.Transport = newTransport(1, nil)
			}
			f := newForwarder(t, "http://"+ln.Addr().String()+"/hook", cfg)
			res := f.Deliver(context.Background(), Request{ID: "big", Body: bigEvent()})
			ln.Close()
			<-served
			if res.Status != tc.status || res.Retryable {
				t.Fatalf("Deliver = status %d, err %v (retryable %v); the handler answered %d", res.Status, res.Err, res.Retryable, tc.status)
			}
			if tc.status/100 == 2 && res.Err != nil {
				t.Fatalf("Deliver = %v; the handler answered %d", res.Err, tc.status)
			}
			if len(seen) != 1 {
				t.Fatalf("the handler saw %d requests, want 1", len(seen))
			}
		})
	}
}

// TestTransportEarlyAnswer2xxNotSentAgain: with retries allowed, an event
// the handler answered 204 to before it had read the body is delivered by
// that one POST: it is not sent again, and the connection the answer came
// on is not used again (the next event goes out on a new one).
func TestTransportEarlyAnswer2xxNotSentAgain(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 16)
	served := make(chan struct{})
	go func() {
		defer close(served)
		answerEarly(ln, "HTTP/1.1 204 No Content\r\n\r\n", 500*time.Millisecond, seen)
	}()
	f := newForwarder(t, "http://"+ln.Addr().String()+"/hook", Config{MaxAttempts: 3})
	first := f.Deliver(context.Background(), Request{ID: "first", Body: bigEvent()})
	second := f.Deliver(context.Background(), Request{ID: "second", Body: bigEvent()})
	ln.Close()
	<-served
	close(seen)
	var ids []string
	for id := range seen {
		ids = append(ids, id)
	}
	if first.Err != nil || first.Attempts != 1 || second.Err != nil || second.Attempts != 1 {
		t.Fatalf("the handler answered 204 to each POST; Deliver = (attempts %d, err %v), (attempts %d, err %v)", first.Attempts, first.Err, second.Attempts, second.Err)
	}
	if strings.Join(ids, " ") != "first second" {
		t.Fatalf("the handler saw %q, want each event once", ids)
	}
}

// TestTransportMaxBytesHandler413: a plain net/http handler that bounds
// bodies at 1 MiB with http.MaxBytesReader answers 413 to a 32 MiB event
// and closes without reading the rest: the answer is final (a dead letter
// at once) and named as such, not a transport error retried until
// --max-age.
func TestTransportMaxBytesHandler413(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20)); err != nil {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	f := newForwarder(t, srv.URL+"/hook", Config{MaxAttempts: 3})
	res := f.Deliver(context.Background(), Request{Body: bigEvent()})
	if res.Status != http.StatusRequestEntityTooLarge || res.Retryable || res.Attempts != 1 {
		t.Fatalf("Deliver = status %d, attempts %d, err %v (retryable %v); the handler answered 413", res.Status, res.Attempts, res.Err, res.Retryable)
	}
	if msg := res.Err.Error(); !strings.Contains(msg, "413 Request Entity Too Large (not retried)") {
		t.Fatalf("Deliver err = %q, want the 413 named as final", msg)
	}
}
