package forward

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"reflect"
	"strconv"
	"strings"
)

// writeRequest writes req on w as net/http's Request.Write does, byte for
// byte, in the same writes to the connection, failing at the same points
// with errors of the same kinds. A delivery's POST (a known length, plain
// header values, a body in memory, a head that fits in w's buffer) has
// its head made here by appending to the connection's buffer:
// Request.Write formats each line with fmt and allocates about a dozen
// times a request, about 6% of the agent's CPU in a burst. Any other
// request, or one whose header Request.Write would rewrite (a line break
// in a value, space around it, an unusual host), goes to Request.Write.
// The test compares the two on the forwarder's requests and on fuzzed
// ones, on connections that fail anywhere.
func writeRequest(w *bufio.Writer, req *http.Request, c *keptConn) error {
	// Request.Write writes the head ahead of a body not in memory, in a
	// write of its own, and calls a ClientTrace's hooks.
	if !inMemory(req.Body) || httptrace.ContextClientTrace(req.Context()) != nil {
		return req.Write(w)
	}
	head, ok := appendHead(c.head[:0], req, &c.keys)
	if cap(c.keys) > maxKeptKeys {
		c.keys = nil // a huge header set: not kept for the next
	}
	// A head larger than what w has room for Request.Write writes in
	// writes of w's size, the last with the body: its own writes, and
	// errors, would differ; nor is such a head kept for the next.
	if !ok || len(head) > w.Available() {
		return req.Write(w)
	}
	c.head = head
	return writeBody(w, head, req)
}

// maxKeptKeys bounds the header names a connection keeps room for.
const maxKeptKeys = 64

// writeBody writes head, then the body of req (its ContentLength known),
// and closes the body, as Request.Write does, with its error for a body
// of another length, and its kind of error when copying the body fails
// (bodyCopyError).
func writeBody(w *bufio.Writer, head []byte, req *http.Request) error {
	body := req.Body
	_, err := w.Write(head) // head fits in w's buffer: an error is w's own, as Request.Write returns it
	var n int64
	if err == nil {
		n, err = io.Copy(w, io.LimitReader(body, req.ContentLength))
		if err == nil {
			var extra int64
			extra, err = io.Copy(io.Discard, body)
			n += extra
		}
		if err != nil {
			err = bodyCopyError{err}
		}
	}
	if cerr := body.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != req.ContentLength {
		err = fmt.Errorf("http: ContentLength=%d with Body length %d", req.ContentLength, n)
	}
	return err
}

// bodyCopyError is an error copying a request's body, reading it or
// writing it (the buffered end of the head included), as Request.Write
// returns it: in a type of its own (net/http's requestBodyReadError),
// with the same message, that hides the cause from errors.Is and
// errors.As. exchange sees neither a timeout nor a reset in it.
type bodyCopyError struct{ error }

// inMemory reports whether Request.Write sees body as a body in memory
// (net/http's isKnownInMemoryReader): one whose head it does not flush
// before copying it. The forwarder's bodies are io.NopCloser of a
// bytes.Reader.
func inMemory(body io.Reader) bool {
	switch body.(type) {
	case *bytes.Reader, *bytes.Buffer, *strings.Reader:
		return true
	}
	switch reflect.TypeOf(body) {
	case nopCloserType, nopCloserWriterToType:
		r, _ := reflect.ValueOf(body).Field(0).Interface().(io.Reader)
		return inMemory(r)
	}
	return false
}

// The types of io.NopCloser's results, as net/http tells them.
var (
	nopCloserType         = reflect.TypeOf(io.NopCloser(nil))
	nopCloserWriterToType = reflect.TypeOf(io.NopCloser(struct {
		io.Reader
		io.WriterTo
	}{}))
)

// appendHead appends req's request line and header to dst, or reports
// false when req is not one it writes as Request.Write would: only a POST
// with a body of known length, no Close, Trailer or TransferEncoding, a
// host of plain characters, and header values Request.Write writes as
// they are. keys is scratch space for the sorted header names.
func appendHead(dst []byte, req *http.Request, keys *[]string) ([]byte, bool) {
	if req.Method != http.MethodPost || req.Body == nil || req.Body == http.NoBody || req.ContentLength <= 0 ||
		req.Close || req.TransferEncoding != nil || req.Trailer != nil || req.URL == nil || req.URL.Opaque != "" {
		return dst, false
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !plainHost(host) {
		return dst, false
	}
	uri := req.URL.RequestURI()
	if !plainValue(uri) || containsSpace(uri) {
		return dst, false
	}
	dst = append(dst, "POST "...)
	dst = append(dst, uri...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\n"...)
	agent := "Go-http-client/1.1"
	if vs, ok := req.Header["User-Agent"]; ok {
		agent = ""
		if len(vs) > 0 {
			agent = vs[0]
		}
	}
	if agent != "" {
		if !plainValue(agent) {
			return dst, false
		}
		dst = append(dst, "User-Agent: "...)
		dst = append(dst, agent...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, req.ContentLength, 10)
	dst = append(dst, "\r\n"...)
	sorted := (*keys)[:0]
	for k := range req.Header {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue // Request.Write leaves these names out
		}
		if isToken(k) { // Request.Write drops a name that is not one
			sorted = insertSorted(sorted, k)
		}
	}
	*keys = sorted
	for _, k := range sorted {
		for _, v := range req.Header[k] {
			if !plainValue(v) {
				return dst, false
			}
			dst = append(dst, k...)
			dst = append(dst, ": "...)
			dst = append(dst, v...)
			dst = append(dst, "\r\n"...)
		}
	}
	return append(dst, "\r\n"...), true
}

// insertSorted inserts k into the sorted slice s: a request has a handful
// of header names.
func insertSorted(s []string, k string) []string {
	s = append(s, k)
	i := len(s) - 1
	for ; i > 0 && s[i-1] > k; i-- {
		s[i] = s[i-1]
	}
	s[i] = k
	return s
}

// plainValue reports whether Request.Write writes v as it is: no control
// byte (it replaces a line break with a space, and refuses a URL with one)
// and no space or tab at either end (it trims them).
func plainValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return v == "" || (v[0] != ' ' && v[len(v)-1] != ' ')
}

// containsSpace reports whether s has a space: a request target has none.
func containsSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return true
		}
	}
	return false
}

// plainHost reports whether host is a name, an IPv4 address or a bracketed
// IPv6 one without a zone, with or without a port: what Request.Write
// writes as it is (it converts other names to punycode, removes a zone,
// and sends no Host for an invalid one).
func plainHost(host string) bool {
	if host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_') {
			return false
		}
	}
	return true
}

// isToken reports whether name is a valid header field name (RFC 9110's
// token), as net/http checks before writing one.
func isToken(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		switch c {
		case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
			continue
		}
		return false
	}
	return true
}
