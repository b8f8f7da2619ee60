// Package forward POSTs one event's exact bytes to the user's local webhook
// handler, retrying failures with capped, jittered backoff, so that a handler
// written for Dialpad's webhooks runs unchanged.
//
// A Forwarder is safe for concurrent use and starts no goroutines of its own;
// Deliver blocks until the event is delivered, refused, given up on, or its
// context ends. The body is never decoded: ids above 2^53, key order and JWT
// signatures reach the handler as they arrived.
//
// An answer is final or retryable by status: 2xx is delivered; 408, 429 and
// 5xx other than 501 are retried; 3xx (redirects are not followed), 501 and
// other 4xx are final. Transport errors and timeouts are retried, bad TLS
// certificates are not.
package forward

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
	"github.com/google/uuid"
	"github.com/hashicorp/go-retryablehttp"
)

// Forwarder delivers events to one handler URL. Make one with New.
type Forwarder struct {
	client *retryablehttp.Client
	url    string // as configured
	// reqURL and reqHost are the request URL and Host that parsing url
	// gives, parsed once in New (nil when that failed: each request
	// then parses url, and fails as it did).
	reqURL      *url.URL
	reqHost     string
	redacted    string // for messages
	host        string // Host override from Config.Headers, or ""
	timeout     time.Duration
	maxAttempts int
	log         *slog.Logger

	// Header templates by body kind: Content-Type, User-Agent and the extra
	// headers. Their value slices are shared by every request, read-only.
	jsonHeader, jwtHeader, rawHeader http.Header
	idKey, typeKey, eventIDKey       string // canonical header names, "" when omitted
	attemptKey                       string
	attemptValues                    [][]string // attemptValues[i] is {"i+1"}, shared read-only
	signSecret                       string
	standard                         *signing.StandardSecret
}

// Unlimited as Config.MaxAttempts retries until the context ends.
const Unlimited = -1

// Attempt is one POST of a Deliver call.
type Attempt struct {
	At       time.Time     // when it started
	Duration time.Duration // until the answer or the error
	Status   int           // 0 when there was no answer
	Err      string        // the transport error; "" when there was an answer
	// RetryAfter is the wait a 429 or 503 answer asked for with its
	// Retry-After; 0 when it gave none (or an invalid one).
	RetryAfter time.Duration
}

// Request is one event to deliver.
type Request struct {
	ID string // delivery id, the same on every attempt; if empty, Deliver makes a UUID
	// EventID is the event's own id, the same for every copy of it (for
	// Config.EventIDHeader; "" leaves the header out).
	EventID string
	Body    []byte // the exact frame bytes, sent unchanged; not modified or kept
	JWT     bool   // Body is a compact JWT (Config.ContentTypeJWT), not JSON
	Raw     bool   // Body is neither (a frame kept although no event): sent as ContentTypeRaw
	// Key is the event's ordering key, for the retry warnings only.
	Key string
	// Type is the event type, for Config.TypeHeader ("" or a value unfit
	// for a header leaves it out) and for sharing the Concurrency slots
	// fairly between types (see slots).
	Type string
	// Prior is how many attempts were made before this call (in an earlier
	// run of the agent): they count toward Config.MaxAttempts, and the
	// attempt header goes on from them. With none left the call makes none.
	Prior int
	// Attempted, when set, is called on the caller's goroutine after each
	// failed attempt that will be retried, with this call's attempts so far.
	Attempted func(history []Attempt)
	// Stop, when set and done, ends the delivery at its next retry: a
	// backoff wait ends at once and no retry starts, and a delivery not
	// done by then fails retryable with ErrStopped. The first attempt, and
	// one in flight, go ahead (Deliver's ctx cuts those short).
	Stop context.Context
	// StopAt, when not zero, stops the delivery at that time as Stop
	// would (a max age, say); an attempt still waiting for one of the
	// Config.Concurrency slots then, the first one included, is not made
	// either, nor counted, and Deliver fails retryable with ErrStopped.
	StopAt time.Time
	// StopQueued, with Stop, also stops an attempt still waiting for one
	// of the Config.Concurrency slots when Stop is done, the first one
	// included, as StopAt does. For a caller that keeps the event, so that
	// a stop behind a slow handler sends nothing new.
	StopQueued bool
	// Attempts, when above 0, is the most attempts this call makes. When
	// they are used up by retryable failures (and Config.MaxAttempts is
	// not), Deliver returns at once, with Result.RetryAt when the next
	// attempt is due, instead of waiting for it: the caller resumes the
	// delivery with a new call (Prior counting these).
	Attempts int
}

// Result is the outcome of a Deliver call.
type Result struct {
	ID       string        // the delivery id sent
	Status   int           // status of the last answer; 0 when the last attempt got none
	Attempts int           // attempts made
	Latency  time.Duration // from the start of Deliver to its end
	Err      error         // nil when delivered (2xx); otherwise an *Error
	History  []Attempt     // every attempt, oldest first

	// Retryable says the last failure was of a kind worth trying again
	// later (transport error, timeout, 408, 429, 5xx other than 501, or the
	// context ending first); false when delivered and for final answers
	// (3xx, other 4xx, 501).
	Retryable bool
	// RetryAt, when not zero, is when the next attempt is due: Request.Attempts
	// ended the call before that wait (backoff, or a longer Retry-After).
	RetryAt time.Time
	// Answer is the start of the body of a final refusal (a 4xx, say),
	// at most answerShown bytes of it, escaped: the handler's reason, which
	// its status alone does not give. "" when there was none.
	Answer string
}

// New validates cfg, fills its defaults and returns a Forwarder.
func New(cfg Config) (*Forwarder, error) {
	u, err := cfg.check()
	if err != nil {
		return nil, err
	}
	maxAttempts := cfg.MaxAttempts
	if maxAttempts == Unlimited {
		maxAttempts = math.MaxInt32
	}
	f := &Forwarder{
		url:         cfg.URL,
		redacted:    RedactURL(u),
		timeout:     cfg.Timeout,
		maxAttempts: maxAttempts,
		log:         cfg.Logger,
		signSecret:  cfg.SignSecret,
		standard:    cfg.Standard,
	}
	timeout := cfg.Timeout
	if _, ok := cfg.Transport.(*transport); ok {
		// It bounds each exchange itself, by the connection's deadline;
		// http.Client's timeout would add a goroutine and a timer to each.
		timeout = 0
	}
	f.client = &retryablehttp.Client{
		HTTPClient: &http.Client{
			Transport: &limited{rt: cfg.Transport, slots: newSlots(cfg.Concurrency)},
			Timeout:   timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		RetryWaitMin:   cfg.RetryWaitMin,
		RetryWaitMax:   cfg.RetryWaitMax,
		RetryMax:       maxAttempts - 1,
		RequestLogHook: f.requestHook,
		CheckRetry:     f.checkRetry,
		Backoff:        noWait,
		ErrorHandler:   retryablehttp.PassthroughErrorHandler,
	}

	if proto, err := http.NewRequest(http.MethodPost, cfg.URL, nil); err == nil {
		f.reqURL, f.reqHost = proto.URL, proto.Host
	}

	extra := cfg.Headers
	if h := extra.Get("Host"); h != "" {
		f.host = h
		extra = extra.Clone()
		delete(extra, "Host")
	}
	f.jsonHeader = template(cfg.ContentTypeJSON, cfg.UserAgent, extra)
	f.jwtHeader = template(cfg.ContentTypeJWT, cfg.UserAgent, extra)
	f.rawHeader = template(ContentTypeRaw, cfg.UserAgent, extra)
	f.idKey = ownKey(cfg.IDHeader)
	f.typeKey = ownKey(cfg.TypeHeader)
	f.eventIDKey = ownKey(cfg.EventIDHeader)
	f.attemptKey = ownKey(cfg.AttemptHeader)
	f.attemptValues = make([][]string, min(maxAttempts, 64))
	for i := range f.attemptValues {
		f.attemptValues[i] = []string{strconv.Itoa(i + 1)}
	}
	return f, nil
}

func template(contentType, userAgent string, extra http.Header) http.Header {
	h := http.Header{
		"Content-Type": {contentType},
		"User-Agent":   {userAgent},
	}
	for k, vs := range extra {
		h[k] = vs // extra headers win
	}
	return h
}

func ownKey(name string) string {
	if name == OmitHeader {
		return ""
	}
	return name
}

// urlNotShown is what RedactURL gives for a URL it cannot redact.
const urlNotShown = "(a URL not shown: it may hold a password)"

// RedactURL is a handler URL for messages and logs: no password, no user
// name without one (a token), no query, which may carry a token
// (?token=…), and no path parameters (;jsessionid=…).
func RedactURL(u *url.URL) string {
	c := *u
	if c.RawQuery != "" {
		c.RawQuery = "xxxxx"
	}
	// A password with an unencoded '#' or '/' ends the host early and
	// lands in the fragment or the path: "http://alice:#pw@host".
	c.Fragment, c.RawFragment = "", ""
	if c.User == nil && strings.Contains(c.Path, "@") {
		c.Path, c.RawPath = "/xxxxx", ""
	}
	// Path parameters (/hook;jsessionid=…) often carry a session.
	if strings.Contains(c.Path, ";") {
		c.Path, c.RawPath = hidePathParams(c.Path), ""
	}
	// A user name with no password, or an empty one, is often the token
	// itself (https://TOKEN@host, https://TOKEN:@host as curl -u TOKEN:
	// writes it): hidden as a password is.
	if c.User != nil && c.User.Username() != "" {
		if pw, _ := c.User.Password(); pw == "" {
			c.User = url.User("xxxxx")
		}
	}
	if c.Host == "" && strings.Contains(c.String(), "@") {
		// Not parsed as scheme://user:password@host (the scheme left
		// out, say): what looks like a password is not known to be one.
		return urlNotShown
	}
	return c.Redacted()
}

// hidePathParams is path with each segment's parameters, from its ';' on,
// given as ";xxxxx".
func hidePathParams(path string) string {
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		if name, _, ok := strings.Cut(seg, ";"); ok {
			segs[i] = name + ";xxxxx"
		}
	}
	return strings.Join(segs, "/")
}

// locationNotShown is what redactLocation gives for a Location it cannot
// redact.
const locationNotShown = "(not shown: it may hold a password)"

// redactLocation is a 3xx answer's Location for messages and logs,
// redacted as RedactURL does a handler URL: a redirect to a login or a
// signed link often carries a password or a token. A Location that is
// no URL, or none RedactURL can redact, is not shown at all.
func redactLocation(loc string) string {
	if loc == "" {
		return ""
	}
	u, err := url.Parse(loc)
	if err != nil {
		return locationNotShown
	}
	if shown := RedactURL(u); shown != urlNotShown {
		return shown
	}
	return locationNotShown
}

// Deliver POSTs r.Body to the handler, retrying as configured, and reports
// the outcome. It returns early, with Err wrapping ctx.Err(), when ctx ends.
// It is safe for concurrent use.
func (f *Forwarder) Deliver(ctx context.Context, r Request) Result {
	start := time.Now()
	res := Result{ID: r.ID}
	if res.ID == "" {
		res.ID = uuid.NewString()
	}
	c := &call{id: res.ID, key: r.Key, class: r.Type, prior: max(r.Prior, 0), attempts: max(r.Prior, 0), attempted: r.Attempted, budget: r.Attempts}
	if !validValue(res.ID) {
		res.Err = &Error{URL: f.redacted, msg: "forward: delivery id " + strconv.Quote(res.ID) + " is not a valid header value"}
		res.Latency = time.Since(start)
		return res
	}
	if err := ctx.Err(); err != nil {
		res.Attempts = c.prior
		res.Err, res.Retryable = f.failure(c, 0, "", nil, err), true
		res.Latency = time.Since(start)
		return res
	}
	if c.prior >= f.maxAttempts {
		res.Attempts = c.prior
		res.Err = &Error{URL: f.redacted, Attempts: c.prior,
			msg: "forward: POST " + f.redacted + ": gave up: " + plural(c.prior, "attempt") + " made before this start; --max-attempts is " + strconv.Itoa(f.maxAttempts)}
		res.Latency = time.Since(start)
		return res
	}

	if f.signSecret != "" {
		body, err := f.resign(r)
		if err != nil {
			res.Err = &Error{URL: f.redacted, Err: err, msg: "forward: cannot re-sign the event: " + err.Error()}
			res.Latency = time.Since(start)
			return res
		}
		r.Body, r.JWT = body, true
	}
	c.body = r.Body
	if r.Stop != nil {
		c.stop = r.Stop.Done()
	}
	c.stopAt, c.stopQueued = r.StopAt, r.StopQueued
	req, err := f.newRequest(context.WithValue(ctx, callKey{}, c), r.Body)
	if err != nil { // the URL was checked in New; this is not expected
		res.Err = &Error{URL: f.redacted, Err: err, msg: "forward: POST " + f.redacted + ": " + err.Error()}
		res.Latency = time.Since(start)
		return res
	}
	f.setHeaders(req.Request, res.ID, r)

	resp, err := f.client.Do(req)
	var status int
	var location string
	if resp != nil {
		status = resp.StatusCode
		if status/100 == 3 {
			location = c.location
		}
		if status/100 != 2 && status != 0 && !retryableStatus(status) {
			res.Answer = answerStart(resp.Body)
		}
		drain(resp.Body)
	}
	res.Attempts, res.Status, res.History = c.attempts, c.status, c.history
	var e *Error
	switch {
	case err == nil && status/100 == 2:
		// Delivered, even if ctx ended meanwhile.
	case err == nil && status != 0 && !retryableStatus(status):
		e = f.failure(c, status, location, nil, nil) // refused, even if ctx ended meanwhile
	case c.notStarted:
		e = f.failure(c, c.status, "", nil, ErrStopped)
	case ctx.Err() != nil:
		e = f.failure(c, c.status, "", nil, context.Cause(ctx))
	case c.stopped() && c.attempts < f.maxAttempts: // else the last allowed attempt failed: final
		e = f.failure(c, c.status, "", nil, ErrStopped)
	case err != nil:
		e = f.failure(c, 0, "", err, nil)
	default:
		e = f.failure(c, status, location, nil, nil)
	}
	if e != nil {
		res.Err, res.Retryable = e, e.Retryable
		if e.Retryable && ctx.Err() == nil {
			res.RetryAt = c.retryAt
		}
	}
	res.Latency = time.Since(start)
	return res
}

// newRequest returns the POST of body to the handler's URL, as
// retryablehttp.NewRequestWithContext makes it from f.url, without parsing
// that URL again: "" parses to an empty URL at next to no cost, which
// becomes a copy of the one parsed in New (every request has a URL of its
// own, as parsing gives it). url.Parse was 1-2% of the agent's CPU
// samples in a burst; made this way a request takes 0.3 µs less.
func (f *Forwarder) newRequest(ctx context.Context, body []byte) (*retryablehttp.Request, error) {
	if f.reqURL == nil {
		return retryablehttp.NewRequestWithContext(ctx, http.MethodPost, f.url, body)
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, "", body)
	if err != nil {
		return nil, err
	}
	*req.URL, req.Host = *f.reqURL, f.reqHost
	return req, nil
}

// utf8BOM is the UTF-8 byte order mark.
var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// resign returns the event as an HS256 JWT signed with SignSecret whose
// payload segment is the exact event bytes.
func (f *Forwarder) resign(r Request) ([]byte, error) {
	payload := r.Body
	switch {
	case r.JWT:
		var err error
		if payload, err = signing.Payload(r.Body); err != nil {
			return nil, err
		}
	case !r.Raw:
		// The event is the JSON object. A byte order mark before it (a
		// frame may have one, and is forwarded as is) is no JSON: in a JWT
		// payload it made JWT libraries refuse the token (golang-jwt,
		// jsonwebtoken). The whitespace around it goes too, as it does
		// from a JWT frame's payload.
		payload = signing.TrimSpace(bytes.TrimPrefix(payload, utf8BOM))
	}
	jwt, err := signing.SignHS256(payload, f.signSecret)
	return []byte(jwt), err
}

// setHeaders sets every header but the attempt number (and the Standard
// Webhooks signature), which requestHook sets before each attempt.
func (f *Forwarder) setHeaders(req *http.Request, id string, r Request) {
	tpl := f.jsonHeader
	switch {
	case r.JWT:
		tpl = f.jwtHeader
	case r.Raw:
		tpl = f.rawHeader
	}
	h := make(http.Header, len(tpl)+4)
	for k, vs := range tpl {
		h[k] = vs
	}
	if f.idKey != "" {
		h[f.idKey] = []string{id}
	}
	if f.typeKey != "" && r.Type != "" && validValue(r.Type) {
		h[f.typeKey] = []string{r.Type}
	}
	if f.eventIDKey != "" && r.EventID != "" && validValue(r.EventID) {
		h[f.eventIDKey] = []string{r.EventID}
	}
	req.Header = h
	if f.host != "" {
		req.Host = f.host
	}
}

// answerShown is the most of a refusal's body that Result.Answer keeps.
const answerShown = 200

// answerStart reads the start of a refusal's body, for Result.Answer: its
// first answerShown bytes on one line, each run of white space (line
// breaks, indents) as one space, what else is not printable escaped (an
// escape sequence as \x1b: the answer could drive a terminal, or forge a
// log line) and the cut marked, or "" for an empty one. Line breaks were
// kept as \n, which a text log line, quoting the reason, showed as \\n.
func answerStart(body io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(body, answerShown+1))
	cut := len(b) > answerShown
	b = bytes.TrimSpace(b[:min(len(b), answerShown)])
	if len(b) == 0 {
		return ""
	}
	var s strings.Builder
	space := false // the last rune written was a space of a run
	for _, r := range strings.ToValidUTF8(string(b), "\uFFFD") {
		if unicode.IsSpace(r) {
			if !space {
				s.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		if unicode.IsPrint(r) {
			s.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r)
		s.WriteString(q[1 : len(q)-1])
	}
	if cut {
		s.WriteString("…")
	}
	return s.String()
}

// drain reads and closes an answer's body so its connection can be reused.
func drain(body io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(body, drainLimit))
	body.Close()
}

// Close closes idle connections to the handler. Deliver may still be
// called afterwards; it dials again.
func (f *Forwarder) Close() {
	f.client.HTTPClient.CloseIdleConnections()
}
