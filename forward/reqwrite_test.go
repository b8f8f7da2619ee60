package forward

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
)

// bytesServer answers 204 to every request on kept-alive connections and
// sends the exact bytes of each request it read, head and body, on the
// returned channel.
func bytesServer(t *testing.T, network, addr string) (string, <-chan []byte) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	got := make(chan []byte, 64)
	serveRaw(t, ln, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			raw, ok := readRawRequest(br)
			if !ok {
				return
			}
			got <- raw
			if _, err := io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n"); err != nil {
				return
			}
		}
	})
	return ln.Addr().String(), got
}

// readRawRequest reads one request's bytes: its head up to the empty line,
// then as many body bytes as its Content-Length says.
func readRawRequest(br *bufio.Reader) ([]byte, bool) {
	var raw []byte
	length := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, false
		}
		raw = append(raw, line...)
		if line == "\r\n" {
			break
		}
		if name, value, ok := strings.Cut(strings.TrimSuffix(line, "\r\n"), ": "); ok && strings.EqualFold(name, "Content-Length") {
			if length, err = strconv.Atoi(value); err != nil {
				return nil, false
			}
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(br, body); err != nil {
		return nil, false
	}
	return append(raw, body...), true
}

// writtenAs is a RoundTripper in front of the agent's transport: for each
// request it sends, it keeps what Request.Write makes of a copy of it, and
// whether appendHead wrote its head itself.
type writtenAs struct {
	next http.RoundTripper
	mu   sync.Mutex
	want [][]byte
	own  []bool
}

func (w *writtenAs) RoundTrip(req *http.Request) (*http.Response, error) {
	copied := func() *http.Request {
		r := req.Clone(req.Context())
		r.Body, _ = req.GetBody()
		return r
	}
	var buf bytes.Buffer
	if err := copied().Write(&buf); err != nil {
		return nil, err
	}
	var keys []string
	_, own := appendHead(nil, copied(), &keys)
	w.mu.Lock()
	w.want, w.own = append(w.want, buf.Bytes()), append(w.own, own)
	w.mu.Unlock()
	return w.next.RoundTrip(req)
}

// TestDeliverWritesRequestWriteBytes: what the handler receives of each
// kind of delivery is, byte for byte, what net/http's Request.Write makes
// of the same request, and the agent's deliveries have their head written
// by appendHead, not by Request.Write.
func TestDeliverWritesRequestWriteBytes(t *testing.T) {
	secret, err := signing.ParseStandardSecret("whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	extra := http.Header{"Authorization": {"Bearer abc.def"}, "X-Team": {"a", "b"}, "Accept": {"*/*"}}
	for _, tc := range []struct {
		name    string
		network string
		addr    string
		path    string
		cfg     Config
		req     Request
	}{
		{"json", "tcp", "127.0.0.1:0", "/hook", Config{}, Request{ID: "id-1", Type: "call", Body: []byte(jsonEvent)}},
		{"jwt with a query", "tcp", "127.0.0.1:0", "/hooks/dialpad?source=tunnel&x=%20y", Config{}, Request{ID: "id-2", Type: "sms", JWT: true, Body: []byte("aaa.bbb.ccc")}},
		{"raw", "tcp", "127.0.0.1:0", "/", Config{}, Request{ID: "id-3", Raw: true, Body: []byte("\x00\x01 not json")}},
		{"extra headers, host, user agent", "tcp", "127.0.0.1:0", "/hook", Config{Headers: http.Header{"Host": {"hooks.example.com"}, "Authorization": extra["Authorization"], "X-Team": extra["X-Team"], "Accept": extra["Accept"]}, UserAgent: "my-agent/2"}, Request{ID: "id-4", Type: "agent_status", Body: []byte(jsonEvent)}},
		{"standard webhooks, no id header", "tcp", "127.0.0.1:0", "/hook", Config{Standard: &secret, IDHeader: "-"}, Request{ID: "id-5", Type: "contact", Body: []byte(jsonEvent)}},
		{"ipv6", "tcp6", "[::1]:0", "/hook", Config{}, Request{ID: "id-6", Type: "call", Body: []byte(jsonEvent)}},
		{"big", "tcp", "127.0.0.1:0", "/hook", Config{}, Request{ID: "id-7", Type: "call", Body: bigEvent()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, got := bytesServer(t, tc.network, tc.addr)
			cfg := tc.cfg
			cfg.URL = "http://" + addr + tc.path
			if _, err := cfg.check(); err != nil {
				t.Fatal(err)
			}
			rec := &writtenAs{next: cfg.Transport}
			cfg.Transport = rec
			f := newForwarder(t, cfg.URL, cfg)
			if res := f.Deliver(context.Background(), tc.req); res.Err != nil {
				t.Fatal(res.Err)
			}
			received := <-got
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.want) != 1 {
				t.Fatalf("%d requests sent, want 1", len(rec.want))
			}
			if !bytes.Equal(received, rec.want[0]) {
				t.Errorf("handler received\n%q\nRequest.Write makes\n%q", received, rec.want[0])
			}
			if !rec.own[0] {
				t.Errorf("the head was left to Request.Write, want it written by appendHead")
			}
			if !bytes.HasSuffix(received, tc.req.Body) {
				t.Errorf("the body is not the event's bytes")
			}
		})
	}
}

// TestWriteRequestOddRequests: requests whose head Request.Write rewrites,
// or which appendHead does not take, come out as Request.Write makes them.
func TestWriteRequestOddRequests(t *testing.T) {
	body := []byte(`{"a":1}`)
	for _, tc := range []struct {
		name string
		edit func(r *http.Request)
	}{
		{"line break in a value", func(r *http.Request) { r.Header.Set("X-A", "one\r\ntwo") }},
		{"tab around a value", func(r *http.Request) { r.Header["X-A"] = []string{"\tpadded\t"} }},
		{"space around a value", func(r *http.Request) { r.Header["X-A"] = []string{"  padded "} }},
		{"space around the user agent", func(r *http.Request) { r.Header["User-Agent"] = []string{" ua "} }},
		{"invalid header name", func(r *http.Request) { r.Header["X A"] = []string{"v"} }},
		{"names Request.Write leaves out", func(r *http.Request) {
			r.Header["Content-Length"] = []string{"99"}
			r.Header["Transfer-Encoding"] = []string{"chunked"}
			r.Header["Host"] = []string{"elsewhere"}
			r.Header["Trailer"] = []string{"X"}
		}},
		{"lower-case name", func(r *http.Request) { r.Header["x-lower"] = []string{"v"} }},
		{"no user agent", func(r *http.Request) { delete(r.Header, "User-Agent") }},
		{"empty user agent", func(r *http.Request) { r.Header["User-Agent"] = []string{""} }},
		{"user agent without values", func(r *http.Request) { r.Header["User-Agent"] = nil }},
		{"empty value", func(r *http.Request) { r.Header["X-Empty"] = []string{""} }},
		{"close", func(r *http.Request) { r.Close = true }},
		{"unicode host", func(r *http.Request) { r.Host = "bücher.example:8080" }},
		{"zone", func(r *http.Request) { r.Host = "[fe80::1%25eth0]:80" }},
		{"invalid host", func(r *http.Request) { r.Host = "a b" }},
		{"unknown length", func(r *http.Request) { r.ContentLength = 0 }},
		{"no body", func(r *http.Request) { r.Body, r.ContentLength = nil, 0 }},
		{"put", func(r *http.Request) { r.Method = http.MethodPut }},
		{"longer than said", func(r *http.Request) { r.ContentLength = 3 }},
		{"shorter than said", func(r *http.Request) { r.ContentLength = 100 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newReq := func() *http.Request {
				r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080/hook?q=1", bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				r.Header.Set("User-Agent", "dialpad-tunnel/test")
				r.Header.Set("Content-Type", "application/json")
				tc.edit(r)
				return r
			}
			compareWrites(t, newReq)
		})
	}
}

// compareWrites checks that writeRequest writes what Request.Write writes
// of the request newReq returns, or fails as it does.
func compareWrites(t *testing.T, newReq func() *http.Request) {
	t.Helper()
	compareWritesOn(t, newReq, -1, nil)
}

// recWriter is a connection as writeRequest sees it: it records each write
// (the bytes, and where one write ends), and fails with failErr once
// failAt bytes are written, when failAt is not negative.
type recWriter struct {
	data    []byte
	writes  []int
	failAt  int
	failErr error
}

func (w *recWriter) Write(p []byte) (int, error) {
	n := len(p)
	var err error
	if w.failAt >= 0 && len(w.data)+n > w.failAt {
		n, err = w.failAt-len(w.data), w.failErr
	}
	w.data = append(w.data, p[:n]...)
	w.writes = append(w.writes, n)
	return n, err
}

// closeCounter is a test body that counts its closes. (Wrapping the
// forwarder's body to count them would hide its type, which Request.Write
// looks at.)
type closeCounter interface{ countCloses(*int) }

// compareWritesOn checks that writeRequest writes what Request.Write
// writes of the request newReq returns, in the same writes, on a
// connection that fails with failErr after failAt bytes (failAt -1: never),
// fails at the same point with an error of the same kind (its text, a
// timeout or not, a reset or not), and closes the body as often.
func compareWritesOn(t *testing.T, newReq func() *http.Request, failAt int, failErr error) {
	t.Helper()
	write := func(f func(*bufio.Writer, *http.Request) error) (*recWriter, error, int) {
		w := &recWriter{failAt: failAt, failErr: failErr}
		r := newReq()
		closes := 0
		if cc, ok := r.Body.(closeCounter); ok {
			cc.countCloses(&closes)
		}
		bw := bufio.NewWriter(w)
		err := f(bw, r)
		if err == nil {
			err = bw.Flush()
		}
		return w, err, closes
	}
	want, wantErr, wantCloses := write(func(bw *bufio.Writer, r *http.Request) error { return r.Write(bw) })
	got, gotErr, gotCloses := write(func(bw *bufio.Writer, r *http.Request) error { return writeRequest(bw, r, &keptConn{}) })
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("writeRequest: %v; Request.Write: %v", gotErr, wantErr)
	}
	if gotErr != nil {
		if gotErr.Error() != wantErr.Error() {
			t.Errorf("writeRequest: %v; Request.Write: %v", gotErr, wantErr)
		}
		if timedOut(gotErr) != timedOut(wantErr) {
			t.Errorf("writeRequest's error is a timeout: %v; Request.Write's: %v", timedOut(gotErr), timedOut(wantErr))
		}
		if errors.Is(gotErr, syscall.ECONNRESET) != errors.Is(wantErr, syscall.ECONNRESET) {
			t.Errorf("writeRequest's error is a reset: %v; Request.Write's: %v", errors.Is(gotErr, syscall.ECONNRESET), errors.Is(wantErr, syscall.ECONNRESET))
		}
	}
	if !bytes.Equal(got.data, want.data) {
		t.Errorf("writeRequest wrote\n%q\nRequest.Write writes\n%q", got.data, want.data)
	} else if !slices.Equal(got.writes, want.writes) {
		t.Errorf("writeRequest wrote in writes of %v bytes, Request.Write in writes of %v", got.writes, want.writes)
	}
	if gotCloses != wantCloses {
		t.Errorf("writeRequest closed the body %d times, Request.Write %d", gotCloses, wantCloses)
	}
}

// errTimeout and errReset are a connection's write errors.
var (
	errTimeout = &net.OpError{Op: "write", Net: "tcp", Err: os.ErrDeadlineExceeded}
	errReset   = &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.ECONNRESET)}
)

// TestWriteRequestFailingConnection: a connection that fails anywhere in
// the request (its head, its body, a large body or head) fails
// writeRequest at the same point, with an error of the same kind, as
// Request.Write: exchange tells a timeout from a failure to write by it.
// Request.Write hides an error writing the body (in an error of its own,
// no timeout); an error writing the head it returns as it is.
func TestWriteRequestFailingConnection(t *testing.T) {
	for _, size := range []int{10, 4000, 5000, 70000} {
		for _, headSize := range []int{0, 3000, 9000} {
			newReq := func() *http.Request {
				body := bytes.Repeat([]byte("b"), size)
				r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080/hook", bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				r.Header.Set("User-Agent", "dialpad-tunnel/test")
				r.Header.Set("Content-Type", "application/json")
				if headSize > 0 {
					r.Header.Set("X-Big", strings.Repeat("h", headSize))
				}
				return r
			}
			var whole bytes.Buffer
			newReq().Write(&whole)
			for _, failErr := range []error{errTimeout, errReset} {
				for _, failAt := range []int{-1, 0, 10, 4095, 4096, 4097, 8192, whole.Len() - size, whole.Len() - size + 1, whole.Len() - 1, whole.Len()} {
					t.Run(fmt.Sprintf("body %d head %d fail at %d %v", size, headSize, failAt, failErr), func(t *testing.T) {
						compareWritesOn(t, newReq, failAt, failErr)
					})
				}
			}
		}
	}
}

// slowBody is a body that is no known in-memory reader: Request.Write
// writes the head before reading it.
type slowBody struct {
	r      io.Reader
	closes *int
}

func (b *slowBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *slowBody) countCloses(n *int)         { b.closes = n }
func (b *slowBody) Close() error {
	if b.closes != nil {
		*b.closes++
	}
	return nil
}

// errRead is a body's read error.
var errRead = errors.New("read failed")

// failingBody reads n bytes, then fails with err.
type failingBody struct {
	n      int
	err    error
	closes *int
}

func (b *failingBody) countCloses(n *int) { b.closes = n }

func (b *failingBody) Read(p []byte) (int, error) {
	if b.n == 0 {
		return 0, b.err
	}
	n := min(len(p), b.n)
	b.n -= n
	return n, nil
}

func (b *failingBody) Close() error {
	if b.closes != nil {
		*b.closes++
	}
	return nil
}

// TestWriteRequestBodies: a body of another kind than the forwarder's
// (not in memory, failing to read, with a read that times out) is written,
// and fails, as Request.Write writes it.
func TestWriteRequestBodies(t *testing.T) {
	for _, tc := range []struct {
		name string
		body func() io.ReadCloser
	}{
		{"not in memory", func() io.ReadCloser { return &slowBody{r: strings.NewReader(`{"a":1}`)} }},
		{"nop closer of bytes", func() io.ReadCloser { return io.NopCloser(bytes.NewReader([]byte(`{"a":1}`))) }},
		{"nop closer of a reader", func() io.ReadCloser { return io.NopCloser(&slowBody{r: strings.NewReader(`{"a":1}`)}) }},
		{"read error", func() io.ReadCloser { return &failingBody{n: 3, err: errRead} }},
		{"read timeout", func() io.ReadCloser { return &failingBody{n: 3, err: os.ErrDeadlineExceeded} }},
		{"read error after the body", func() io.ReadCloser { return &failingBody{n: 7, err: errRead} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, failAt := range []int{-1, 5, 100} {
				compareWritesOn(t, func() *http.Request {
					r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080/hook", nil)
					if err != nil {
						t.Fatal(err)
					}
					r.Body, r.ContentLength = tc.body(), 7
					r.Header.Set("User-Agent", "dialpad-tunnel/test")
					return r
				}, failAt, errTimeout)
			}
		})
	}
}

// TestWriteRequestKeepsLittle: a head of any size leaves the connection
// with a buffer no larger than its writer's.
func TestWriteRequestKeepsLittle(t *testing.T) {
	c := &keptConn{}
	for _, size := range []int{100, 1 << 20, 100} {
		r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080/hook", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("X-Big", strings.Repeat("h", size))
		for i := range 200 {
			r.Header.Set("X-"+strconv.Itoa(i), "v")
		}
		bw := bufio.NewWriter(io.Discard)
		if err := writeRequest(bw, r, c); err != nil {
			t.Fatal(err)
		}
		if cap(c.head) > 2*bw.Size() || cap(c.keys) > 2*maxKeptKeys {
			t.Errorf("after a head of %d bytes the connection keeps %d bytes of head, %d names", size, cap(c.head), cap(c.keys))
		}
	}
}

// FuzzWriteRequest: for any header name, value, host, target and body,
// writeRequest writes what Request.Write writes, or fails as it does.
func FuzzWriteRequest(f *testing.F) {
	f.Add("X-Dialpad-Tunnel-Attempt", "1", "127.0.0.1:9", "/hook?x=1", []byte(jsonEvent))
	f.Add("x-lower", " v ", "[::1]:80", "/", []byte("b"))
	f.Add("Content-Length", "7", "host", "/a b", []byte("body"))
	f.Add("A", "\x7f", "h\x00", "/%zz", []byte{})
	f.Fuzz(func(t *testing.T, name, value, host, target string, body []byte) {
		u, err := url.Parse("http://127.0.0.1:9" + target)
		if err != nil || u.Host != "127.0.0.1:9" {
			return
		}
		compareWrites(t, func() *http.Request {
			r := &http.Request{Method: http.MethodPost, URL: u, Host: host, Header: http.Header{"User-Agent": {"ua"}},
				Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}
			if len(body) == 0 {
				r.Body = nil
			}
			r.Header[name] = append(r.Header[name], value)
			return r
		})
	})
}

// FuzzWriteRequestWide: for any set of header names and values (several
// values a name, names Request.Write leaves out or drops), host, user
// info and target in the URL, user agent, body and stated length, on a
// connection that fails anywhere with a timeout or a reset, writeRequest
// writes what Request.Write writes, in the same writes, or fails as it
// does, at the same point, with an error of the same kind. grow makes the
// body longer, by as many bytes, than what fits in the writer's buffer
// with the head: a small request is written by the caller's Flush, a
// larger one in part while its body is copied.
func FuzzWriteRequestWide(f *testing.F) {
	f.Add("X-Dialpad-Tunnel-Attempt\nwebhook-id\nAuthorization", "1\nmsg_1\nBearer x", "", "", "/hook?x=1", "dialpad-tunnel/1", byte(1), []byte(jsonEvent), int8(0), -1, byte(0), uint16(0))
	f.Add("Host\nUser-Agent\nX-A\nX-A", "elsewhere\nua\na\nb", "hooks.example.com:8080", "user:pa%20ss", "/", "", byte(0), []byte("b"), int8(0), 150, byte(1), uint16(0))
	f.Add("X-Dialpad-Tunnel-Attempt\nwebhook-id", "2\nmsg_1", "", "", "/hook", "dialpad-tunnel/1", byte(1), []byte(jsonEvent), int8(0), 4500, byte(0), uint16(1000))
	f.Add("X-A", "v", "", "", "/", "ua", byte(1), []byte("x"), int8(-1), 8000, byte(1), uint16(5000))
	f.Add("Content-Length\nTransfer-Encoding\nx a", "7\nchunked\nv", "[::1]:80", "tok", "/a?b=c%20d", " ua ", byte(3), []byte("body"), int8(1), 0, byte(0), uint16(0))
	f.Add("A\nB", "\x7f\n x", "[fe80::1%eth0]:80", "", "/%zz", "ua", byte(2), []byte{}, int8(-1), 5000, byte(1), uint16(0))
	f.Fuzz(func(t *testing.T, names, values, host, userinfo, target, ua string, uaMode byte, body []byte, lenDelta int8, failAt int, errKind byte, grow uint16) {
		if grow > 0 {
			body = append(bytes.Clone(body), bytes.Repeat([]byte("x"), 4096+int(grow)%(1<<14))...)
		}
		prefix := "http://"
		if userinfo != "" {
			prefix += userinfo + "@"
		}
		u, err := url.Parse(prefix + "127.0.0.1:9" + target)
		if err != nil || u.Host != "127.0.0.1:9" {
			return
		}
		header := http.Header{}
		vs := strings.Split(values, "\n")
		for i, name := range strings.Split(names, "\n") {
			header[name] = append(header[name], vs[i%len(vs)])
		}
		switch uaMode % 4 {
		case 1:
			header["User-Agent"] = []string{ua}
		case 2:
			header["User-Agent"] = []string{}
		case 3:
			header["User-Agent"] = nil
		}
		failErr := errTimeout
		if errKind%2 == 1 {
			failErr = errReset
		}
		if failAt < -1 {
			failAt = -1
		}
		compareWritesOn(t, func() *http.Request {
			r := &http.Request{Method: http.MethodPost, URL: u, Host: host, Header: header.Clone(),
				Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)) + int64(lenDelta)}
			if len(body) == 0 && lenDelta%2 == 0 {
				r.Body = http.NoBody
			}
			return r
		}, failAt, failErr)
	})
}

// BenchmarkWriteRequest measures writing a delivery's request, head and
// body, once the connection's buffers have grown: with writeRequest (2
// allocations, io.LimitReader's and io.Copy's) and with Request.Write.
func BenchmarkWriteRequest(b *testing.B) {
	body := []byte(jsonEvent)
	r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080/hook?q=1", nil)
	if err != nil {
		b.Fatal(err)
	}
	r.Header = http.Header{"User-Agent": {"dialpad-tunnel/test"}, "Content-Type": {"application/json"},
		"X-Dialpad-Tunnel-Id": {"id-1"}, "X-Dialpad-Tunnel-Attempt": {"1"}}
	r.ContentLength = int64(len(body))
	br := bytes.NewReader(body)
	r.Body = io.NopCloser(br)
	bw := bufio.NewWriter(io.Discard)
	c := &keptConn{}
	for _, tc := range []struct {
		name  string
		write func() error
	}{
		{"writeRequest", func() error { return writeRequest(bw, r, c) }},
		{"Request.Write", func() error { return r.Write(bw) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				br.Reset(body)
				if err := tc.write(); err != nil {
					b.Fatal(err)
				}
				bw.Flush()
			}
		})
	}
}
