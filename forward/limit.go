package forward

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// errNotStarted ends an attempt stopped while it waited for a slot
// (Request.StopAt, Request.StopQueued).
var errNotStarted = errors.New("stopped before it was sent")

// limited is a Forwarder's transport: it lets at most Config.Concurrency
// exchanges run at once, over every Deliver call, from sending a request
// until its answer's body is closed (forward and retryablehttp close every
// one); slots says which waiting attempt goes next. A delivery waiting for
// its next attempt holds no slot, so a caller may run many more deliveries
// than POSTs in flight: events whose retries wait (stuck keys) then hold
// up no other event.
type limited struct {
	rt    http.RoundTripper
	slots *slots
}

func (l *limited) RoundTrip(req *http.Request) (*http.Response, error) {
	c := callFrom(req.Context())
	var (
		stop   <-chan struct{}
		stopAt time.Time
		class  string
		retry  bool
	)
	if c != nil {
		// No attempt starts past StopAt (a max age), whether the caller
		// keeps the event or not; Stop ends a wait for a slot only with
		// StopQueued.
		class, retry, stopAt = c.class, c.attempts > 1, c.stopAt
		if c.stopQueued {
			stop = c.stop
		}
	}
	start, ok := l.slots.acquire(class, retry, req.Context().Done(), stop, stopAt)
	if !ok {
		if req.Body != nil {
			req.Body.Close() // a RoundTripper closes the body, even on errors
		}
		if err := req.Context().Err(); err != nil {
			return nil, err
		}
		return nil, errNotStarted
	}
	if c != nil {
		c.started() // the wait for a slot is not the handler's time
	}
	resp, err := l.rt.RoundTrip(req)
	if err == nil && resp.StatusCode < 100 {
		// Not HTTP (net/http reads "000" to "099" as statuses): a server
		// error, as a status of 600 or more is, retried as a status line
		// that is no number is; a final answer made it a dead letter, and
		// a 0 read as no answer at all.
		err = fmt.Errorf("malformed HTTP status code %03d", resp.StatusCode)
		resp.Body.Close()
	}
	if err != nil {
		l.slots.release(class, retry, start)
		return nil, err
	}
	resp.Body = &slotBody{ReadCloser: resp.Body, slots: l.slots, class: class, retry: retry, start: start}
	if resp.StatusCode/100 == 3 {
		// Redirects are never followed. The Location goes to the call,
		// redacted, for the message; taken out of the answer, http.Client
		// cannot fail the exchange on one it cannot parse, with an error
		// quoting it whole (a password, a token), as a transport error
		// retried when the answer is final.
		if c != nil {
			c.location = redactLocation(resp.Header.Get("Location"))
		}
		resp.Header.Del("Location")
	}
	return resp, nil
}

// CloseIdleConnections passes on to the transport (http.Client calls it).
func (l *limited) CloseIdleConnections() {
	if ci, ok := l.rt.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// slotBody gives its exchange's slot back when closed. Closing it again
// (retryablehttp drains and closes an answer checkRetry closed) does
// nothing, and reading it once closed reads nothing, whatever the
// transport's body would do.
type slotBody struct {
	io.ReadCloser
	slots  *slots
	class  string
	retry  bool
	start  int64
	closed atomic.Bool
}

func (b *slotBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, io.EOF
	}
	return b.ReadCloser.Read(p)
}

func (b *slotBody) Close() error {
	if !b.closed.CompareAndSwap(false, true) {
		return nil
	}
	err := b.ReadCloser.Close()
	b.slots.release(b.class, b.retry, b.start)
	return err
}
