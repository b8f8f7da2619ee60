package forward

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
)

// Defaults that New fills into a Config's zero fields.
const (
	DefaultContentTypeJSON = "application/json"
	// ContentTypeRaw is the Content-Type of a body that is neither JSON
	// nor a JWT (Request.Raw).
	ContentTypeRaw        = "application/octet-stream"
	DefaultContentTypeJWT = "application/jwt"
	DefaultUserAgent      = "dialpad-tunnel/dev"
	DefaultIDHeader       = "X-Dialpad-Tunnel-Delivery-Id"
	DefaultAttemptHeader  = "X-Dialpad-Tunnel-Attempt"
	DefaultTypeHeader     = "X-Dialpad-Tunnel-Event-Type"
	DefaultEventIDHeader  = "X-Dialpad-Tunnel-Event-Id"
	DefaultTimeout        = 10 * time.Second
	DefaultMaxAttempts    = 5
	DefaultRetryWaitMin   = 250 * time.Millisecond
	DefaultRetryWaitMax   = 30 * time.Second // must be at least DefaultRetryWaitMin
	DefaultConcurrency    = 16
)

// ErrHeaders is wrapped by New's errors about Config.Headers.
var ErrHeaders = errors.New("forward: Headers")

// OmitHeader, as IDHeader, AttemptHeader, TypeHeader or EventIDHeader,
// leaves that header out of every POST.
const OmitHeader = "-"

// Config configures a Forwarder. Zero fields take the defaults above.
type Config struct {
	// URL is the local webhook handler, an absolute http or https URL. Required.
	URL string

	// ContentTypeJSON and ContentTypeJWT are the Content-Type of a JSON and of
	// a compact-JWT body (API.md §10 Q1).
	ContentTypeJSON string
	ContentTypeJWT  string

	// UserAgent is sent as User-Agent.
	UserAgent string

	// Headers are added to every POST, after ours, so they win over
	// Content-Type and User-Agent (an empty User-Agent value sends none).
	// "Host" sets the request's Host. They may not name Content-Length,
	// Transfer-Encoding, or the ID, attempt and type headers below. Their
	// values are never logged.
	Headers http.Header

	// IDHeader carries the delivery id, the same on every attempt.
	// AttemptHeader carries the attempt number: 1, 2, 3 …
	// TypeHeader carries the event type, and is left out when it is unknown.
	// OmitHeader ("-") leaves the header out.
	IDHeader      string
	AttemptHeader string
	TypeHeader    string
	// EventIDHeader carries Request.EventID, the same for every copy of an
	// event (left out when it is empty).
	EventIDHeader string

	// Timeout bounds each attempt, from dialling to reading the answer.
	Timeout time.Duration

	// SignSecret, when set, re-signs every event: the handler receives an
	// HS256 JWT signed with it whose payload segment is the exact event
	// bytes (of a JSON frame, from its '{' to its '}': without a byte
	// order mark or whitespace around it; or the payload of a JWT frame),
	// as Content-Type ContentTypeJWT.
	SignSecret string
	// Standard, when set, adds Standard Webhooks headers (webhook-id,
	// webhook-timestamp, webhook-signature) to every attempt, signed with it.
	Standard *signing.StandardSecret

	// MaxAttempts is the number of attempts including the first; 1 means no
	// retries, Unlimited retries until the context ends; 0 means the default.
	MaxAttempts int

	// RetryWaitMin and RetryWaitMax bound the wait between attempts. RetryWaitMax
	// also caps a Retry-After answer. RetryWaitMin must not exceed RetryWaitMax.
	RetryWaitMin time.Duration
	RetryWaitMax time.Duration

	// Concurrency is the most POSTs in flight at once over every Deliver
	// call (a delivery waiting for a retry holds none); it also sizes the
	// default Transport's idle connection pool.
	Concurrency int

	// TLS, if set, is the client TLS configuration for an https handler:
	// the authorities it trusts, a client certificate. Only for the
	// default Transport, and only for the handler: an https proxy's
	// certificate is checked against the system's authorities, and it is
	// shown no client certificate.
	TLS *tls.Config

	// Transport, if set, replaces the default: a transport for keep-alive
	// to one local host that does each plain-HTTP exchange on the calling
	// goroutine (transport.go), and otherwise an http.Transport with the
	// proxy taken from the environment (loopback hosts never use one; an
	// https proxy's own handshake does not use TLS). Neither asks for gzip.
	Transport http.RoundTripper

	// Logger gets one debug line per retry (id, attempt, status or error);
	// never a body or a header value. Nil discards.
	Logger *slog.Logger
}

// URLParseError is url.Parse's error on raw, without raw: net/url's
// message repeats the URL, and for one with a user part even the part it
// quotes (a port, a host) may be a password with a '#', '/' or '?' in it.
func URLParseError(raw string, err error) error {
	if strings.Contains(raw, "@") {
		return errors.New("it does not parse (not shown: it may hold a password; a '#', '/', '?' or '@' in a password must be percent-encoded)")
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

// ValidHeaderName reports whether s can be sent as a header name.
func ValidHeaderName(s string) bool { return validName(s) }

// Validate reports what New would refuse in c, without making anything:
// for a caller that checks its configuration before it starts.
func (c Config) Validate() error {
	_, err := c.check() // on a copy: c's defaults stay unfilled
	return err
}

// ValidHeaderValue reports whether s can be sent as a header value, as
// New requires of ContentTypeJSON, ContentTypeJWT and UserAgent.
func ValidHeaderValue(s string) bool { return validValue(s) }

// check validates c and fills its defaults. It returns the parsed URL.
func (c *Config) check() (*url.URL, error) {
	if c.URL == "" {
		return nil, errors.New("forward: URL is required")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("forward: URL: %w", URLParseError(c.URL, err))
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		if shown := RedactURL(u); shown != urlNotShown {
			return nil, fmt.Errorf("forward: URL %q is not an absolute http or https URL", shown)
		}
		return nil, errors.New("forward: URL is not an absolute http or https URL such as http://localhost:3000/hook (not shown: it may hold a password)")
	}

	setDefault(&c.ContentTypeJSON, DefaultContentTypeJSON)
	setDefault(&c.ContentTypeJWT, DefaultContentTypeJWT)
	setDefault(&c.UserAgent, DefaultUserAgent)
	setDefault(&c.IDHeader, DefaultIDHeader)
	setDefault(&c.AttemptHeader, DefaultAttemptHeader)
	setDefault(&c.TypeHeader, DefaultTypeHeader)
	setDefault(&c.EventIDHeader, DefaultEventIDHeader)
	for name, v := range map[string]string{
		"ContentTypeJSON": c.ContentTypeJSON,
		"ContentTypeJWT":  c.ContentTypeJWT,
		"UserAgent":       c.UserAgent,
	} {
		if !validValue(v) {
			return nil, fmt.Errorf("forward: %s %q is not a valid header value", name, v)
		}
	}
	ours := map[string]bool{}
	for name, h := range map[string]*string{
		"IDHeader":      &c.IDHeader,
		"AttemptHeader": &c.AttemptHeader,
		"TypeHeader":    &c.TypeHeader,
		"EventIDHeader": &c.EventIDHeader,
	} {
		if *h == OmitHeader {
			continue
		}
		if !validName(*h) {
			return nil, fmt.Errorf("forward: %s %q is not a valid header name", name, *h)
		}
		*h = http.CanonicalHeaderKey(*h)
		if ours[*h] {
			return nil, fmt.Errorf("forward: %s %q is used twice", name, *h)
		}
		ours[*h] = true
	}

	if c.Standard != nil { // its three headers are the tunnel's too
		for _, h := range []string{signing.HeaderWebhookID, signing.HeaderWebhookTimestamp, signing.HeaderWebhookSignature} {
			ours[http.CanonicalHeaderKey(h)] = true
		}
	}
	extra := make(http.Header, len(c.Headers))
	for k, vs := range c.Headers {
		if !validName(k) {
			return nil, fmt.Errorf("%w: %q is not a valid header name", ErrHeaders, k)
		}
		k = http.CanonicalHeaderKey(k)
		switch {
		case k == "Content-Length" || k == "Transfer-Encoding":
			return nil, fmt.Errorf("%w: %s is set from the body and may not be given", ErrHeaders, k)
		case ours[k]:
			return nil, fmt.Errorf("%w: %s is the tunnel's own header and cannot be replaced", ErrHeaders, k)
		}
		for _, v := range vs {
			if !validValue(v) {
				// The value may be a secret: name the header only.
				return nil, fmt.Errorf("%w: value of %s is not a valid header value", ErrHeaders, k)
			}
		}
		extra[k] = append(extra[k], vs...)
	}
	c.Headers = extra

	if c.Timeout < 0 || c.MaxAttempts < Unlimited || c.RetryWaitMin < 0 || c.RetryWaitMax < 0 || c.Concurrency < 0 {
		return nil, errors.New("forward: Timeout, MaxAttempts, RetryWaitMin, RetryWaitMax and Concurrency may not be negative")
	}
	setDefault(&c.Timeout, DefaultTimeout)
	setDefault(&c.MaxAttempts, DefaultMaxAttempts)
	setDefault(&c.RetryWaitMin, DefaultRetryWaitMin)
	setDefault(&c.RetryWaitMax, max(DefaultRetryWaitMax, c.RetryWaitMin))
	setDefault(&c.Concurrency, DefaultConcurrency)
	if c.RetryWaitMin > c.RetryWaitMax {
		return nil, fmt.Errorf("forward: RetryWaitMin %s exceeds RetryWaitMax %s", c.RetryWaitMin, c.RetryWaitMax)
	}
	if c.Transport == nil {
		c.Transport = newSyncTransport(c.Timeout, c.Concurrency, c.TLS, http.ProxyFromEnvironment)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return u, nil
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// newTransport returns a Transport for many keep-alive POSTs to one host.
func newTransport(conns int, tlsConfig *tls.Config) *http.Transport {
	return &http.Transport{
		TLSClientConfig: tlsConfig.Clone(), // nil stays nil: the defaults
		Proxy:           http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second, // Config.Timeout usually ends a dial first
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		DisableCompression:    true, // send no Accept-Encoding of our own; we never read bodies
	}
}

// validName reports whether s is an RFC 9110 token, as a header name must be.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || isSeparator(c) {
			return false
		}
	}
	return true
}

func isSeparator(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=', '{', '}':
		return true
	}
	return false
}

// validValue reports whether s can be sent as a header value: no control
// bytes other than tab.
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
