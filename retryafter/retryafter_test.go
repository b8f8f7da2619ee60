package retryafter

import (
	"math"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"   ", 0, false},
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{" 7 ", 7 * time.Second, true},
		{"+3", 3 * time.Second, true}, // strconv's reading; HTTP has no sign
		{"-1", 0, false},
		{"1.5", 0, false},
		{"Sat, 01 Mar 2025 12:00:30 GMT", 30 * time.Second, true}, // IMF-fixdate
		{"Saturday, 01-Mar-25 12:01:00 GMT", time.Minute, true},   // RFC 850
		{"Sat Mar  1 12:00:05 2025", 5 * time.Second, true},       // asctime
		{"Sat, 01 Mar 2025 11:00:00 GMT", 0, true},                // past
		{"tomorrow", 0, false},
		{"9223372036", 9223372036 * time.Second, true},
		{"9223372037", math.MaxInt64, true}, // more seconds than a Duration holds
		{"99999999999999999999", math.MaxInt64, true},
		{"-99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, ok := Parse(tt.v, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Parse(%q) = %v, %v; want %v, %v", tt.v, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzParse feeds Retry-After values, which the Dialpad API and the local
// handler send, to Parse: a wait it accepts is never negative.
func FuzzParse(f *testing.F) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{"", "0", "120", "-1", "1.5", " 7 ", "+3", "9223372036", "99999999999999999999", "-99999999999999999999",
		"Sat, 01 Mar 2025 12:00:30 GMT", "Saturday, 01-Mar-25 12:01:00 GMT", "Sat Mar  1 12:00:05 2025", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := Parse(v, now)
		if !ok && d != 0 || d < 0 {
			t.Errorf("Parse(%q) = %v, %v", v, d, ok)
		}
	})
}
