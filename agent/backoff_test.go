package agent

import (
	"testing"
	"time"
)

func TestBackoffGrowsWithinBoundsAndCaps(t *testing.T) {
	const (
		lo = 5 * time.Millisecond
		hi = 50 * time.Millisecond
	)
	b := backoff{min: lo, max: hi}
	want := []time.Duration{5, 10, 20, 40, 50, 50, 50, 50}
	for round := range 50 { // the waits are random: check many sequences
		b.reset()
		for i, w := range want {
			d := w * time.Millisecond
			got := b.next()
			if got < d/2 || got > d {
				t.Fatalf("round %d: wait %d = %v, want within [%v, %v]", round, i, got, d/2, d)
			}
		}
	}
}

func TestBackoffIsJittered(t *testing.T) {
	b := backoff{min: time.Second, max: time.Minute}
	seen := map[time.Duration]bool{}
	for range 20 {
		b.reset()
		seen[b.next()] = true
	}
	if len(seen) < 2 {
		t.Errorf("20 first waits were all %v: no jitter", seen)
	}
}

func TestBackoffReset(t *testing.T) {
	b := backoff{min: 10 * time.Millisecond, max: time.Second}
	for range 10 {
		b.next()
	}
	if got := b.next(); got < 500*time.Millisecond {
		t.Fatalf("after 10 waits the next is %v, want the cap's range", got)
	}
	b.reset()
	if got := b.next(); got < 5*time.Millisecond || got > 10*time.Millisecond {
		t.Errorf("after reset the wait is %v, want within [5ms, 10ms]", got)
	}
}

func TestBackoffMinEqualsMax(t *testing.T) {
	b := backoff{min: 20 * time.Millisecond, max: 20 * time.Millisecond}
	for i := range 40 {
		if got := b.next(); got < 10*time.Millisecond || got > 20*time.Millisecond {
			t.Fatalf("wait %d = %v, want within [10ms, 20ms]", i, got)
		}
	}
}

// Many failures in a row never leave the [max/2, max] range, whatever min is.
func TestBackoffLongRunStaysAtCap(t *testing.T) {
	for _, tc := range []struct{ min, max time.Duration }{
		{500 * time.Millisecond, 60 * time.Second}, // the defaults
		{5 * time.Millisecond, 50 * time.Millisecond},
		{8 * time.Second, time.Hour},
	} {
		b := backoff{min: tc.min, max: tc.max}
		for i := range 200 {
			got := b.next()
			if i >= 40 && (got < tc.max/2 || got > tc.max) {
				t.Fatalf("min %v max %v: wait %d = %v, want within [%v, %v]", tc.min, tc.max, i, got, tc.max/2, tc.max)
			}
		}
	}
}

func TestBackoffLargeMinOverflow(t *testing.T) {
	b := backoff{min: 1<<34 + 1, max: time.Hour}
	for i := range 40 {
		if got := b.next(); i >= 10 && got < b.max/2 {
			t.Fatalf("wait %d = %v, want within [%v, %v]", i, got, b.max/2, b.max)
		}
	}
}
