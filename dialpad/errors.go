package dialpad

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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

// newAPIError builds the error for a non-2xx response from its (already
// size-limited) body. Any occurrence of apiKey is redacted from the message.
func newAPIError(op string, resp *http.Response, body []byte, apiKey string) *APIError {
	e := &APIError{Op: op, Status: resp.StatusCode}
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		e.RetryAfter = d
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
		e.Message = trimBody(body)
	}
	if apiKey != "" {
		e.Message = strings.ReplaceAll(e.Message, apiKey, "<redacted>")
	}
	e.Message = clip(e.Message, maxErrorMessage)
	return e
}

// trimBody turns a raw body into one short line for an error message.
func trimBody(body []byte) string {
	body = bytes.TrimSpace(body)
	s := strings.Join(strings.Fields(string(body)), " ")
	return clip(s, maxErrorMessage)
}

// clip cuts s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// parseRetryAfter parses a Retry-After header given as delay-seconds or as an
// HTTP date. A date in the past yields 0.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	if errors.Is(err, strconv.ErrRange) && v[0] != '-' {
		secs, err = math.MaxInt64, nil // more seconds than fit: capped below
	}
	if err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(at.Sub(now), 0), true
}

// errf wraps err with the operation, once, in the package's style.
func errf(op string, err error) error {
	return fmt.Errorf("dialpad: %s: %w", op, err)
}
