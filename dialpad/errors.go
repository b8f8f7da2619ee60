package dialpad

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dialpad-tunnel/dialpad-tunnel/console"
	"github.com/dialpad-tunnel/dialpad-tunnel/retryafter"
)

// maxErrorMessage bounds APIError.Message when it falls back to the raw body.
const maxErrorMessage = 512

// APIError is a non-2xx response from the Dialpad REST API. Check for it with
// errors.As. Its text never contains the API key.
type APIError struct {
	// Op names the operation, e.g. "get websocket 1000".
	Op string
	// Status is the HTTP status code.
	Status int
	// Code is error.code from the body, 0 when absent.
	Code int
	// Message is error.message from the body or, when the body is not of that
	// shape, the body itself trimmed to a few hundred bytes.
	Message string
	// RetryAfter is the delay the Retry-After header asked for, 0 when absent.
	// It is set on a 429 to a POST, which this client never retries.
	RetryAfter time.Duration
}

// Error returns e.g. "dialpad: get websocket 1000: 404 Not Found: websocket not found".
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("dialpad: ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(strconv.Itoa(e.Status))
	if text := http.StatusText(e.Status); text != "" {
		b.WriteString(" ")
		b.WriteString(text)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Permanent reports whether retrying the request cannot help: the key is
// missing or invalid (401), lacks permission (403) or the object is gone (404).
func (e *APIError) Permanent() bool {
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return true
	}
	return false
}

// IsPermanent reports whether err wraps an *APIError whose Permanent is true.
func IsPermanent(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Permanent()
}

// IsNotFound reports whether err wraps an *APIError with status 404: the
// object is not on this account (or is gone).
func IsNotFound(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound
}

// IsRefused reports whether err wraps an *APIError with a 4xx status, 429
// included: Dialpad answered and refused the request, so it made nothing.
// Any other error (a 5xx, or no answer at all) may come from a request
// that was carried out all the same.
func IsRefused(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Status >= 400 && apiErr.Status < 500
}

// MayBeCarriedOut reports whether a request that failed with err may
// have been carried out all the same: Dialpad did not refuse it (a 4xx
// made nothing) and it was sent (a connection never made sent nothing).
// A 5xx may be a gateway's, after the request was carried out; no answer
// (a timeout, a lost connection) says nothing either way.
func MayBeCarriedOut(err error) bool {
	var op *net.OpError
	return err != nil && !IsRefused(err) && !(errors.As(err, &op) && op.Op == "dial")
}

// newAPIError builds the error for a non-2xx response from its (already
// size-limited) body. The API key is redacted from the message wherever it
// stands as a token of its own (see redactKey).
func newAPIError(op string, resp *http.Response, body []byte, apiKey string) *APIError {
	e := &APIError{Op: op, Status: resp.StatusCode}
	if d, ok := retryafter.Parse(resp.Header.Get("Retry-After"), time.Now()); ok {
		e.RetryAfter = min(d, 24*time.Hour) // a wait longer than a day is not one to wait for
	}
	var parsed struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &parsed) == nil && parsed.Error.Message != "" {
		e.Code = parsed.Error.Code
		e.Message = parsed.Error.Message
	} else {
		e.Message = oneLine(body)
	}
	// Redacted before it is clipped: a key cut in two would not be found.
	e.Message = clip(escapeControls(redactKey(e.Message, apiKey, "<redacted>")), maxErrorMessage)
	return e
}

// escapeControls writes each rune of s that is not printable (an escape
// sequence that would drive the terminal the error is printed on, a line
// break that would forge a line after it) as its Go escape: the message
// comes from the server, and the error is printed as it is (doctor, the
// commands' last line).
func escapeControls(s string) string {
	if strings.IndexFunc(s, notPrintable) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if notPrintable(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func notPrintable(r rune) bool { return !unicode.IsPrint(r) }

// oneLine turns a raw body into one line for an error message.
func oneLine(body []byte) string {
	body = bytes.TrimSpace(body)
	return strings.Join(strings.Fields(string(body)), " ")
}

// looseKey is the length from which a key is redacted wherever it occurs,
// even inside a longer word: a key that long is no part of a word by
// chance, and it may follow an escape ("Bearer%20KEY", "\nKEY" in a body
// echoed as JSON). Real Dialpad keys are far longer.
const looseKey = 16

// redactKey replaces with mark each occurrence of key in s. A key shorter
// than looseKey is replaced only where it stands as a token of its own:
// not preceded or followed by a letter, a digit, '-' or '_', as it is
// wherever it appears as itself (in a header, a URL's query, a JSON
// string); it may also be part of a word, which is left as it is: with
// the key "k", a 401's "invalid or missing API key" must not become
// "API <redacted>ey". A key of any length is redacted.
func redactKey(s, key, mark string) string {
	if key == "" {
		return s
	}
	if len(key) >= looseKey {
		return strings.ReplaceAll(s, key, mark)
	}
	var b strings.Builder
	done := 0 // s[:done] is written to b
	for from := 0; from < len(s); {
		i := strings.Index(s[from:], key)
		if i < 0 {
			break
		}
		i += from
		end := i + len(key)
		before, _ := utf8.DecodeLastRuneInString(s[:i]) // utf8.RuneError at the start
		after, _ := utf8.DecodeRuneInString(s[end:])
		if !tokenChar(before) && !tokenChar(after) {
			b.WriteString(s[done:i])
			b.WriteString(mark)
			done, from = end, end
			continue
		}
		from = i + 1 // a match that overlaps this one may stand alone
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// tokenChar reports whether r may be part of a token with the key: a
// letter, a digit, '-' or '_'.
func tokenChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_'
}

// clip cuts s to at most n bytes, marking the cut (console.Clip).
var clip = console.Clip

// errf wraps err with the operation, once, in the package's style.
func errf(op string, err error) error {
	return fmt.Errorf("dialpad: %s: %w", op, err)
}
