package agent

import (
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// TestLatencyBuckets: a delivery counts in the first bucket whose bound
// it does not exceed, from its arrival or, if later, its replay; one
// beyond every bound in the last.
func TestLatencyBuckets(t *testing.T) {
	var l latencies
	now := time.Now()
	l.observe(sinceArrival(spool.Event{Received: now.Add(-3 * time.Millisecond)}))                                 // ≤ 5ms (bucket 4)
	l.observe(sinceArrival(spool.Event{Received: now.Add(-time.Hour), Replayed: now.Add(-30 * time.Millisecond)})) // ≤ 50ms (bucket 7): from the replay
	l.observe(sinceArrival(spool.Event{Received: now.Add(-2 * time.Hour)}))                                        // beyond 1h
	got := l.snapshot()
	bounds := LatencyBounds()
	if len(got.Counts) != len(bounds)+1 {
		t.Fatalf("%d buckets for %d bounds", len(got.Counts), len(bounds))
	}
	want := map[int]uint64{4: 1, 7: 1, len(bounds): 1}
	for i, n := range got.Counts {
		if n != want[i] {
			t.Errorf("bucket %d (%v): %d, want %d", i, append(bounds, -1)[i], n, want[i])
		}
	}
	if got.Sum < 2*time.Hour+33*time.Millisecond {
		t.Errorf("sum %s, want at least 2h33ms", got.Sum)
	}
}

// TestLatencyNeverNegative: an arrival in the future (stored by a run
// whose wall clock was ahead, then stepped back) counts as 0 in the
// first bucket; it made the sum, a counter to Prometheus, go down.
func TestLatencyNeverNegative(t *testing.T) {
	var l latencies
	l.observe(sinceArrival(spool.Event{Received: time.Now().Add(-time.Second)}))
	before := l.snapshot().Sum
	l.observe(sinceArrival(spool.Event{Received: time.Now().Add(time.Hour)}))
	got := l.snapshot()
	if got.Sum < before {
		t.Errorf("sum went from %s to %s", before, got.Sum)
	}
	if got.Counts[0] != 1 {
		t.Errorf("first bucket %d, want the delivery from the future in it", got.Counts[0])
	}
}
