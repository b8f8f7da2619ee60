package forward

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
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
	var want bytes.Buffer
	wantErr := newReq().Write(&want)
	var got bytes.Buffer
	bw := bufio.NewWriter(&got)
	c := &keptConn{}
	gotErr := writeRequest(bw, newReq(), c)
	bw.Flush()
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("writeRequest: %v; Request.Write: %v", gotErr, wantErr)
	}
	if wantErr == nil && !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Errorf("writeRequest wrote\n%q\nRequest.Write writes\n%q", got.Bytes(), want.Bytes())
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
