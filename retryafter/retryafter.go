// Package retryafter reads a Retry-After header: the Dialpad API's (a
// 429) and the local handler's (a 429 or 503) alike.
package retryafter

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Parse reads v, delay-seconds or an HTTP date, as a wait from now; ok
// is false for a value that is neither, or a negative number. A date in
// the past is a wait of 0; more seconds than a Duration holds are the
// longest Duration, for the caller to cap.
func Parse(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	switch {
	case err == nil && secs < 0:
		return 0, false
	case err == nil && secs > math.MaxInt64/int64(time.Second), errors.Is(err, strconv.ErrRange) && v[0] != '-':
		return math.MaxInt64, true
	case err == nil:
		return time.Duration(secs) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(at.Sub(now), 0), true
}
