package forward

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Error is Result.Err for an event that was not delivered; get at it with
// errors.As. Its message reads like
//
//	forward: POST http://127.0.0.1:3000/hook: 400 Bad Request (not retried)
//	forward: POST http://127.0.0.1:1/hook: dial tcp 127.0.0.1:1: connect: connection refused (gave up after 5 attempts)
type Error struct {
	URL       string // the handler URL, its password redacted
	Status    int    // status of the last answer; 0 when the last attempt got none
	Location  string // Location of a 3xx answer, which is never followed, redacted as URL is
	Attempts  int    // attempts made
	Retryable bool   // as Result.Retryable
	Err       error  // the transport or context error, if any; nil when Status explains the failure
	msg       string
}

func (e *Error) Error() string { return e.msg }

// Unwrap returns e.Err, so errors.Is(err, context.Canceled) works.
func (e *Error) Unwrap() error { return e.Err }

// failure builds the Error for an undelivered call. ctxErr is non-nil when
// the caller's context ended the call.
func (f *Forwarder) failure(c *call, status int, location string, err, ctxErr error) *Error {
	e := &Error{URL: f.redacted, Status: status, Location: location, Attempts: c.attempts, Err: err}
	msg := "forward: POST " + f.redacted + ": "
	switch {
	case ctxErr != nil:
		// Not refused by the handler: worth trying again later.
		e.Retryable, e.Err = true, ctxErr
		msg += ctxErr.Error()
		if c.attempts == 0 {
			msg += " (not attempted)"
			break
		}
		msg += " (stopped after " + plural(c.attempts, "attempt")
		if status != 0 {
			msg += "; last answer " + statusLine(status)
		} else if c.err != nil {
			msg += "; last error " + cause(c.err, f.timeout)
		}
		msg += ")"
	case err != nil:
		e.Retryable = retryableErr(err)
		msg += cause(err, f.timeout) + outcome(e.Retryable, c.attempts)
	default:
		e.Retryable = retryableStatus(status)
		msg += statusLine(status)
		if status/100 == 3 && location == "" {
			msg += " (3xx answers are final;"
			if c.attempts > 1 {
				msg += " after " + plural(c.attempts, "attempt") + ";"
			}
			msg += " not retried)"
			break
		}
		if status/100 == 3 {
			shown := location
			if shown != locationNotShown {
				shown = strconv.Quote(shown)
			}
			msg += ", Location " + shown + " (redirects are not followed;"
			if c.attempts > 1 {
				msg += " after " + plural(c.attempts, "attempt") + ";"
			}
			msg += " not retried)"
			break
		}
		msg += outcome(e.Retryable, c.attempts)
	}
	e.msg = msg
	return e
}

// outcome is the parenthesis that ends a message: why we stopped.
func outcome(retryable bool, attempts int) string {
	switch {
	case retryable:
		return " (gave up after " + plural(attempts, "attempt") + ")"
	case attempts > 1:
		return " (not retried; after " + plural(attempts, "attempt") + ")"
	default:
		return " (not retried)"
	}
}

// cause describes a transport error without the "Post <url>" that
// net/http puts in front, and says so plainly when it is a timeout.
func cause(err error, timeout time.Duration) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return "timed out (limit " + timeout.String() + " per attempt): " + err.Error()
	}
	return err.Error()
}

func statusLine(code int) string {
	s := strconv.Itoa(code)
	if t := http.StatusText(code); t != "" {
		s += " " + t
	}
	return s
}

func plural(n int, noun string) string {
	s := strconv.Itoa(n) + " " + noun
	if n != 1 {
		s += "s"
	}
	return s
}
