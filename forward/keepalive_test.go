package forward

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawAct is what a rawServer does once it has read a request whole: it
// may answer on c, and reports whether c carries the next request.
type rawAct func(c net.Conn) (keep bool)

// answer204 answers 204 and keeps the connection.
func answer204(c net.Conn) bool {
	io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
	return true
}

// answerThenClose answers 204, without Connection: close, and then
// closes the connection while it is idle, as a handler's idle timeout
// does.
func answerThenClose(c net.Conn) bool {
	answer204(c)
	c.Close()
	return false
}

// answerThenReset answers 204 and then resets the idle connection.
func answerThenReset(c net.Conn) bool {
	answer204(c)
	c.(*net.TCPConn).SetLinger(0) // its Close resets the connection
	c.Close()
	return false
}

// lose closes the connection without an answer, once the request was
// read whole: a handler that crashed mid-request, or a proxy in front of
// it that timed out.
func lose(c net.Conn) bool {
	c.Close()
	return false
}

// rawServer is a handler on a raw listener on loopback that reads each
// request whole, reports it on seen as "<delivery id> <attempt header>",
// and then does acts[n-1] for the n-th request (counted over every
// connection; answer204 past the end of acts); done gets a value once
// that is done. Each connection is served on a goroutine of its own;
// cleanup closes the listener and every connection and waits for them.
func rawServer(t *testing.T, acts ...rawAct) (url string, seen <-chan string, done <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu sync.Mutex
		n  int
	)
	got, finished := make(chan string, 16), make(chan struct{}, 16)
	serveRaw(t, ln, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if _, err := io.Copy(io.Discard, req.Body); err != nil {
				return
			}
			got <- req.Header.Get(DefaultIDHeader) + " " + req.Header.Get(DefaultAttemptHeader)
			mu.Lock()
			n++
			act := rawAct(answer204)
			if n <= len(acts) {
				act = acts[n-1]
			}
			mu.Unlock()
			keep := act(c)
			finished <- struct{}{}
			if !keep {
				return
			}
		}
	})
	return "http://" + ln.Addr().String() + "/hook", got, finished
}

// serveRaw accepts connections on ln until it is closed and serves each
// with serve on a goroutine of its own, which closes it after serve
// returns. Cleanup closes ln and every connection and waits for them.
func serveRaw(t *testing.T, ln net.Listener, serve func(c net.Conn)) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() { // accepts until the listener closes
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// drained is what is on ch now, in order.
func drained(ch <-chan string) []string {
	var out []string
	for {
		select {
		case s := <-ch:
			out = append(out, s)
		default:
			return out
		}
	}
}

// TestTransportRequestTakenThenLostIsAnAttempt: a handler that read the
// whole POST on a kept connection and then closed it without an answer
// may have taken the event. Sending it again is a retry like any other:
// numbered 2 in the attempt header, logged, counted toward --max-attempts
// and kept in the history; with --max-attempts 1 it is not sent again.
// (It used to go out again at once as attempt 1, uncounted: the handler
// got it twice, both numbered 1, and the Result said 1 attempt.)
func TestTransportRequestTakenThenLostIsAnAttempt(t *testing.T) {
	for _, tc := range []struct {
		maxAttempts int
		seen        []string // by the handler, after "first 1"
	}{
		{1, []string{"second 1"}},
		{3, []string{"second 1", "second 2"}},
	} {
		t.Run(fmt.Sprint("max attempts ", tc.maxAttempts), func(t *testing.T) {
			url, seen, _ := rawServer(t, answer204, lose) // the second request is taken, then lost
			logs := make(records, 16)
			f := newForwarder(t, url, Config{MaxAttempts: tc.maxAttempts, Logger: slog.New(logs)})
			ctx := context.Background()
			if res := f.Deliver(ctx, Request{ID: "first", Body: []byte(jsonEvent)}); res.Err != nil {
				t.Fatalf("first delivery: %v", res.Err)
			}
			res := f.Deliver(ctx, Request{ID: "second", Body: []byte(jsonEvent)})
			want := append([]string{"first 1"}, tc.seen...)
			if got := drained(seen); strings.Join(got, ", ") != strings.Join(want, ", ") {
				t.Errorf("handler saw %q, want %q", got, want)
			}
			if res.Attempts != len(tc.seen) || len(res.History) != len(tc.seen) {
				t.Fatalf("Result: %d attempts, %d in history; the handler got %d POSTs", res.Attempts, len(res.History), len(tc.seen))
			}
			if first := res.History[0]; first.Status != 0 || !strings.Contains(first.Err, "connection lost after the request was sent, before any answer") {
				t.Errorf("first attempt recorded as status %d, error %q; want no answer, the connection lost", first.Status, first.Err)
			}
			if tc.maxAttempts == 1 {
				if res.Err == nil || !res.Retryable || !strings.Contains(res.Err.Error(), "(gave up after 1 attempt)") {
					t.Errorf("Deliver = %v (retryable %v), want given up after 1 attempt", res.Err, res.Retryable)
				}
				return
			}
			if res.Err != nil || res.Status != http.StatusNoContent || res.History[1].Status != http.StatusNoContent {
				t.Errorf("Deliver = status %d, err %v; want the second attempt's 204", res.Status, res.Err)
			}
			var warned bool
			for _, rec := range drainedRecords(logs) {
				if rec.Message == "delivery attempt failed; retrying" && intAttr(rec, "attempt") == 1 {
					warned = true
				}
			}
			if !warned {
				t.Error("the lost attempt was not logged as a failed attempt")
			}
		})
	}
}

// drainedRecords is what is in logs now.
func drainedRecords(logs records) []slog.Record {
	var out []slog.Record
	for {
		select {
		case rec := <-logs:
			out = append(out, rec)
		default:
			return out
		}
	}
}

// intAttr is rec's attribute key as an int, or -1.
func intAttr(rec slog.Record, key string) int {
	v := -1
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = int(a.Value.Int64())
			return false
		}
		return true
	})
	return v
}

// TestTransportIdleConnectionClosedCostsNoAttempt: a kept connection the
// handler closed or reset while it was idle cannot have carried the next
// event to it: whether its close is seen before the request is written,
// or the write of the request fails, the event goes out once more on a
// new connection, numbered 1 and counted once. Only when the whole
// request was written before the close was seen (it was still on its
// way) may the handler have taken it: then the failure is an attempt.
func TestTransportIdleConnectionClosedCostsNoAttempt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close rawAct
		look  bool   // the close is looked for before writing
		body  []byte // bigEvent: its write fails once the handler is gone
		seen  string // the handler's POSTs of the second event
	}{
		{"closed, seen before writing", answerThenClose, true, []byte(jsonEvent), "second 1"},
		{"reset, seen before writing", answerThenReset, true, []byte(jsonEvent), "second 1"},
		{"closed, found by the write", answerThenClose, false, bigEvent(), "second 1"},
		{"reset, found by the write", answerThenReset, false, bigEvent(), "second 1"},
		{"closed, not seen before the request was written whole", answerThenClose, false, []byte(jsonEvent), "second 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, seen, done := rawServer(t, tc.close)
			cfg := Config{URL: url, MaxAttempts: 2, RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond}
			if _, err := cfg.check(); err != nil {
				t.Fatal(err)
			}
			tr := cfg.Transport.(*transport)
			tr.idleCheck = time.Hour // never checked by a read
			tr.look = tc.look
			f := newForwarder(t, cfg.URL, cfg)
			ctx := context.Background()
			if res := f.Deliver(ctx, Request{ID: "first", Body: []byte(jsonEvent)}); res.Err != nil {
				t.Fatalf("first delivery: %v", res.Err)
			}
			<-done // the handler has closed the connection
			res := f.Deliver(ctx, Request{ID: "second", Body: tc.body})
			want := strings.Count(tc.seen, " 2") + 1
			if res.Err != nil || res.Status != http.StatusNoContent || res.Attempts != want || len(res.History) != want {
				t.Errorf("Deliver = status %d, err %v, %d attempts (%d in history); want the handler's 204 in %d", res.Status, res.Err, res.Attempts, len(res.History), want)
			}
			if got := drained(seen); strings.Join(got, ", ") != "first 1, "+tc.seen {
				t.Errorf("handler saw %q, want %q", got, "first 1, "+tc.seen)
			}
		})
	}
}

// TestTransportHandlerClosingAfterEachAnswer: a handler that answers
// without Connection: close and closes the connection at once (a naive
// server, or a keep-alive timeout of a few milliseconds) gets every event
// once, and a request that met the close is not counted when the close
// was a reset: it went out just as the handler's socket was gone, and
// goes out again on a new connection. (A black-box review saw 67 of 300
// events become dead letters with --max-attempts 1, none of which the
// handler had got.) A close that comes as a clean one cannot be told from
// a handler that read the request and went, and costs an attempt: about
// one in 1,500 here, hence two attempts allowed.
func TestTransportHandlerClosingAfterEachAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() { // one request per connection, answered, then closed
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			req, err := http.ReadRequest(bufio.NewReader(c))
			if err == nil && func() error { _, err := io.Copy(io.Discard, req.Body); return err }() == nil {
				mu.Lock()
				seen[req.Header.Get(DefaultIDHeader)]++
				mu.Unlock()
				io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	f := newForwarder(t, "http://"+ln.Addr().String()+"/hook", Config{MaxAttempts: 2, Concurrency: 1,
		RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond})
	const n = 300
	for i := range n {
		id := fmt.Sprintf("ev-%d", i)
		res := f.Deliver(context.Background(), Request{ID: id, Body: []byte(jsonEvent)})
		if res.Err != nil {
			t.Fatalf("event %d: %v", i, res.Err)
		}
		for _, a := range res.History {
			if strings.Contains(a.Err, "reset") {
				t.Errorf("event %d: an attempt counted for a reset: %v", i, a.Err)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for id, k := range seen {
		if k != 1 {
			t.Errorf("%s got %d times, want once", id, k)
		}
	}
	if len(seen) != n {
		t.Errorf("handler got %d events, want %d", len(seen), n)
	}
}
