package forward

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/dialpad-tunnel/dialpad-tunnel/retryafter"
)

// drainLimit is how much of an answer's body is read, and thrown away, so
// that its keep-alive connection can carry the next POST. Longer bodies
// cost a new connection instead.
const drainLimit = 64 << 10

// call is the state of one Deliver call. It rides in the request's context
// because retryablehttp calls its hooks with the request or its context
// only; the hooks all run on the caller's goroutine, one after another.
type call struct {
	id        string
	key       string          // Request.Key, for the retry warning
	class     string          // Request.Type: whose share of the slots the attempts take (see slots)
	prior     int             // attempts made before this call (Request.Prior)
	attempted func([]Attempt) // Request.Attempted
	attempts  int             // attempts started, prior ones included
	status    int             // status of the last answer, 0 when the last attempt got none
	err       error           // transport error of the last attempt, nil when it got an answer
	location  string          // Location of a 3xx answer, redacted (redactLocation); limited sets it
	history   []Attempt
	body      []byte    // what is POSTed, for the Standard Webhooks signature
	budget    int       // Request.Attempts
	retryAt   time.Time // when the next attempt is due, once budget ended the call
	// stop is Request.Stop's Done (nil without one) and stopAt
	// Request.StopAt: the call is stopping once either came (stopped).
	// stopQueued is Request.StopQueued; notStarted says the last attempt
	// was stopped while it waited for a slot.
	stop       <-chan struct{}
	stopAt     time.Time
	stopQueued bool
	notStarted bool
	// halted: stopped once said yes; it says so from then on, whatever
	// the wall clock does (a StopAt read back from disk has no monotonic
	// reading, and a clock stepped back would make it come undone).
	halted bool
}

// ErrStopped ends a delivery whose Request.Stop was done (or whose
// Request.StopAt came) before it succeeded or was refused; it is retryable.
var ErrStopped = errors.New("no further attempt: stopping")

// stopped reports whether the call was asked to stop: Request.Stop done,
// or Request.StopAt come. It runs on the caller's goroutine, as the hooks
// do.
func (c *call) stopped() bool {
	if !c.halted {
		select {
		case <-c.stop: // a nil channel (no Stop) never is
			c.halted = true
		default:
			c.halted = !c.stopAt.IsZero() && !time.Now().Before(c.stopAt)
		}
	}
	return c.halted
}

// waitRetry waits d before the next attempt, and reports false if the call
// was stopped (Request.Stop, Request.StopAt) or ctx ended first. The call
// waits itself, rather than leave it to retryablehttp, whose wait only a
// context ending cuts short: each call would need a context and a watch
// of Request.Stop of its own, which cost more than the rest of a delivery
// when every first attempt succeeds.
func (c *call) waitRetry(ctx context.Context, d time.Duration) bool {
	untilStop := false
	if !c.stopAt.IsZero() {
		left := time.Until(c.stopAt)
		if left <= 0 {
			c.halted = true
			return false
		}
		if left < d {
			d, untilStop = left, true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		if untilStop {
			c.halted = true
			return false
		}
		return !c.stopped() // Stop may have come with the timer: no retry starts then
	case <-c.stop:
		c.halted = true
	case <-ctx.Done():
	}
	return false
}

// started sets the start of the attempt under way to now: it began
// waiting for a slot (Config.Concurrency) when it was recorded. It runs on
// the caller's goroutine, as the hooks do (http.Client calls RoundTrip on
// it).
func (c *call) started() {
	if n := len(c.history); n > 0 {
		c.history[n-1].At = time.Now()
	}
}

type callKey struct{}

func callFrom(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

// retryableStatus reports whether an answer with this status is worth
// another attempt: 408, 429 and 5xx except 501 Not Implemented, which will
// not change on a retry. 2xx is delivered; 1xx never reaches us; 3xx
// (redirects are not followed) and other 4xx are final.
func retryableStatus(code int) bool {
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return true
	case code == http.StatusNotImplemented:
		return false
	default:
		return code >= 500
	}
}

// retryableErr reports whether a transport error is worth another attempt:
// all are (refused, reset, timeout …) except a TLS certificate the handler
// will keep presenting.
func retryableErr(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		unknownCA x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		hostname  x509.HostnameError
	)
	return !errors.As(err, &verify) && !errors.As(err, &unknownCA) &&
		!errors.As(err, &invalid) && !errors.As(err, &hostname)
}

// requestHook is the retryablehttp.RequestLogHook. It runs before each
// attempt (i counts from 0) and sets the attempt header.
func (f *Forwarder) requestHook(_ retryablehttp.Logger, req *http.Request, i int) {
	c := callFrom(req.Context())
	if c != nil {
		c.attempts = c.prior + i + 1
		c.history = append(c.history, Attempt{At: time.Now()})
		i += c.prior // the header numbers attempts across runs
	}
	if f.attemptKey == "" && f.standard == nil {
		return
	}
	if i > 0 {
		// retryablehttp gave this attempt a shallow copy of the request;
		// give it its own headers too, so that the earlier attempt's
		// connection, which may still be writing, never sees them change.
		req.Header = req.Header.Clone()
	}
	switch {
	case f.attemptKey == "":
	case i < len(f.attemptValues):
		req.Header[f.attemptKey] = f.attemptValues[i]
	default:
		req.Header[f.attemptKey] = []string{strconv.Itoa(i + 1)}
	}
	if f.standard != nil && c != nil {
		// Each attempt is signed with its own timestamp, as the
		// specification's receivers check it against their clock.
		for k, vs := range f.standard.Headers(c.id, time.Now(), c.body) {
			req.Header[k] = vs
		}
	}
}

// checkRetry is the retryablehttp.CheckRetry. It records the attempt's
// outcome in the call and says whether to try again. It never returns an
// error: Deliver builds the Result from the call, the answer and ctx.
// Saying "no" to a retryable answer on the last attempt (rather than letting
// retryablehttp run out) keeps it from closing every idle connection, which
// it still does after a final transport error. (The waits between attempts
// are the call's own, in checkRetry: retryablehttp never cancels one.)
func (f *Forwarder) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	c := callFrom(ctx)
	if c == nil {
		return false, nil
	}
	stopping := c.stopped()
	if errors.Is(err, errNotStarted) { // recorded, but not made: not counted
		c.history = c.history[:len(c.history)-1]
		c.attempts--
		c.notStarted = true
		return false, nil
	}
	c.status, c.err = 0, nil
	retry := false
	var last *Attempt
	if n := len(c.history); n > 0 {
		last = &c.history[n-1]
		last.Duration = time.Since(last.At)
	}
	switch {
	case err == nil:
		c.status = resp.StatusCode
		retry = retryableStatus(resp.StatusCode)
		if last != nil {
			last.Status = c.status
			last.RetryAfter, _ = askedWait(resp)
		}
	case ctx.Err() == nil: // else the error is only the caller stopping us
		c.err = err
		retry = retryableErr(err)
		if last != nil {
			last.Err = cause(err, f.timeout)
			if n := len(c.history); n > 1 && c.history[n-2].Err == last.Err {
				last.Err = c.history[n-2].Err // one copy of a repeated error
			}
		}
	case last != nil:
		last.Err = ctx.Err().Error()
	}
	if !retry || stopping || ctx.Err() != nil || c.attempts >= f.maxAttempts {
		return false, nil
	}
	if resp != nil {
		// retryablehttp drains only 4 KiB; a framework's error page is
		// longer. Closed, the answer gives its connection and its slot
		// back before the wait.
		io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	}
	// The caller waits for the next attempt itself once budget is used up.
	ended := c.budget > 0 && c.attempts-c.prior >= c.budget
	var wait time.Duration
	if ended {
		wait = backoff(f.client.RetryWaitMin, f.client.RetryWaitMax, c.id, c.attempts-1, resp)
		c.retryAt = time.Now().Add(wait)
	} else {
		// The wait is this call's, as retryablehttp would count it: by the
		// attempts of this call (its Backoff is noWait).
		wait = backoff(f.client.RetryWaitMin, f.client.RetryWaitMax, c.id, c.attempts-c.prior-1, resp)
		if resp != nil {
			resp.Body.Close()
		}
		if c.attempted != nil {
			c.attempted(c.history)
		}
	}
	if f.log.Enabled(ctx, slog.LevelWarn) {
		c.warnRetry(ctx, f, err, wait)
	}
	if ended {
		return false, nil
	}
	return c.waitRetry(ctx, wait), nil
}

// warnRetry logs that the attempt failed with err (or c.status), and
// when the next one comes: a handler back meanwhile otherwise sees
// nothing for a while, and its user wonders why. Unless the delivery's
// StopAt (its max age) comes first: then none does. Apart from
// checkRetry, as nextAttempt is.
func (c *call) warnRetry(ctx context.Context, f *Forwarder, err error, wait time.Duration) {
	attrs := []slog.Attr{slog.String("id", c.id)}
	if c.key != "" {
		attrs = append(attrs, slog.String("key", c.key)) // to follow a call's events by its key
	}
	attrs = append(attrs, slog.Int("attempt", c.attempts), slog.String("max_attempts", f.maxAttemptsText()),
		slog.String("handler", f.redacted)) // which one, with several routes
	if err != nil {
		attrs = append(attrs, slog.String("error", cause(err, f.timeout)))
	} else {
		attrs = append(attrs, slog.Int("status", c.status))
	}
	msg, next := c.nextAttempt(wait)
	f.log.LogAttrs(ctx, slog.LevelWarn, msg, append(attrs, next)...)
}

// nextAttempt is the retry warning's message and its last attribute:
// when the next attempt comes (retry_in), or, when the call's StopAt (the
// max age) comes first, that none does and when it ends (ends_in). Apart
// from checkRetry, whose frame is on the stack through each retry's wait:
// its locals there grew the stacks of a thousand waiting deliveries.
func (c *call) nextAttempt(wait time.Duration) (string, slog.Attr) {
	if now := time.Now(); !c.stopAt.IsZero() && now.Add(wait).After(c.stopAt) {
		return StopAtFirstMsg, slog.String("ends_in", max(c.stopAt.Sub(now), 0).Round(time.Millisecond).String())
	}
	return "delivery attempt failed; retrying", slog.String("retry_in", wait.Round(time.Millisecond).String())
}

// StopAtFirstMsg is the warning of a failed attempt whose retry would
// come after the delivery's Request.StopAt (the agent's --max-age), so
// that none comes.
const StopAtFirstMsg = "delivery attempt failed; its max age ends before the next attempt would start"

// noWait is the retryablehttp.Backoff: checkRetry has waited already.
func noWait(_, _ time.Duration, _ int, _ *http.Response) time.Duration { return 0 }

// maxAttemptsText is MaxAttempts for log lines.
func (f *Forwarder) maxAttemptsText() string {
	if f.maxAttempts == math.MaxInt32 {
		return "unlimited"
	}
	return strconv.Itoa(f.maxAttempts)
}

// RetryWait is the wait before the next attempt of delivery id after
// attempts failed ones, the last of which was asked to wait asked
// (Attempt.RetryAfter; 0: not asked): what Deliver waited, or would have,
// after that attempt (its jitter is the delivery's, see backoff), for a
// caller that resumes a delivery an earlier run began.
func (f *Forwarder) RetryWait(id string, attempts int, asked time.Duration) time.Duration {
	if attempts <= 0 {
		return 0
	}
	return withAsked(backoff(f.client.RetryWaitMin, f.client.RetryWaitMax, id, attempts-1, nil), asked, f.client.RetryWaitMax)
}

// AttemptsSpent reports whether attempts made already leave no attempt
// under MaxAttempts: Deliver would give up at once.
func (f *Forwarder) AttemptsSpent(attempts int) bool { return attempts >= f.maxAttempts }

// MaxRetryWait is the longest wait between attempts (Config.RetryWaitMax).
func (f *Forwarder) MaxRetryWait() time.Duration { return f.client.RetryWaitMax }

// backoff is the wait after attempt n+1 fails.
// The normal wait is "equal jitter" exponential: with d = lo·2^(n+1)
// capped at hi, a uniform pick from [d/2, d], never below lo; so it lies
// in [lo, hi]. A 429 or 503 answer's Retry-After (delta-seconds or
// HTTP-date) may lengthen that wait but never shorten it: the wait is
// max(Retry-After, the normal wait), capped at hi. So a Retry-After of 0,
// or a date in the past, waits the normal wait and cannot make a tight
// loop of retries. An invalid Retry-After, or one on any other status, is
// ignored.
//
// The pick is drawn from the delivery id and n, not at random: a restarted
// agent that resumes the delivery (RetryWait) waits what this run said it
// would (retry_in), where a new draw could come sooner. Different
// deliveries still spread across the range. An empty id draws at random.
func backoff(lo, hi time.Duration, id string, n int, resp *http.Response) time.Duration {
	d := expBackoff(lo, hi, id, n)
	if ra, ok := askedWait(resp); ok {
		return withAsked(d, ra, hi)
	}
	return d
}

// withAsked is the wait d lengthened to a Retry-After's asked, capped at
// hi; asked never shortens it.
func withAsked(d, asked, hi time.Duration) time.Duration { return max(d, min(asked, hi)) }

// askedWait is the wait a 429 or 503 answer asks for with a valid
// Retry-After; ok is false for any other answer.
func askedWait(resp *http.Response) (time.Duration, bool) {
	if resp == nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return 0, false
	}
	return retryafter.Parse(resp.Header.Get("Retry-After"), time.Now())
}

// expBackoff is backoff's normal wait after attempt n+1 fails, in [lo, hi].
func expBackoff(lo, hi time.Duration, id string, n int) time.Duration {
	d := lo
	for i := 0; i <= n && d < hi; i++ {
		if d > hi/2 {
			d = hi
		} else {
			d *= 2
		}
	}
	d = min(d, hi)
	if d <= 0 {
		return 0
	}
	half := d / 2
	return max(lo, half+jitter(id, n, d-half+1))
}

// jitter picks from [0, span) by delivery id and attempt: the same pick
// for the same pair in every run (FNV-1a over both), a random one without
// an id.
func jitter(id string, n int, span time.Duration) time.Duration {
	if id == "" {
		return rand.N(span)
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	h.Write(binary.LittleEndian.AppendUint64(nil, uint64(n)))
	return time.Duration(h.Sum64() % uint64(span))
}
