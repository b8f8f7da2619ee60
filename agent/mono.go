package agent

import "time"

// monoBase anchors the instants kept as nanoseconds in atomics (a
// connection's last pong and frame, a dedupe entry's age): monoNanos
// measures from it on the monotonic clock, so that liveness and ages are
// not moved by a step of the wall clock (an NTP correction), as Unix
// nanoseconds were. It lies a day before the process started, so that no
// instant since is 0, which stands for none. Set once, never changed.
var monoBase = time.Now().Add(-24 * time.Hour)

// monoNanos is t as nanoseconds since monoBase: on the monotonic clock for
// a t that has its reading (time.Now and what is computed from it), on the
// wall clock otherwise.
func monoNanos(t time.Time) int64 { return int64(t.Sub(monoBase)) }

// monoTime is the instant monoNanos gave n, with its monotonic reading;
// the zero Time for 0 (none).
func monoTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return monoBase.Add(time.Duration(n))
}

// shownTime is the instant monoNanos gave n as the wall clock reads it
// now, for log lines: monoTime's wall reading is the start's plus the time
// since, which a step of the wall clock since would leave behind. The zero
// Time for 0 (none).
func shownTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Now().Add(-time.Since(monoTime(n)))
}
