package main

import (
	"testing"
	"time"
)

// FuzzParseSince feeds --since values, which the user types, to
// parseSince: a time or an error, never a panic, and a duration ago is
// never after now.
func FuzzParseSince(f *testing.F) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for _, s := range []string{"1h", "90s", "2026-11-27T09:30:00.250+01:00", "yesterday", "-1h", "0", "2562047h", "9999-12-31T23:59:59Z", "1h30m0.5s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseSince(s, now)
		if err != nil {
			return
		}
		if _, perr := time.ParseDuration(s); perr == nil && got.After(now) {
			t.Errorf("parseSince(%q) = %v: after now", s, got)
		}
	})
}
