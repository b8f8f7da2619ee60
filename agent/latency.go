package agent

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// latencyBounds are the upper bounds of the delivery latency histogram's
// buckets: from an event's arrival (or the replay that put it back) to
// its 2xx answer. A local handler answers within a millisecond; a burst
// behind a slow one, and retries, reach the upper ones.
var latencyBounds = [...]time.Duration{
	250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 10 * time.Second,
	time.Minute, 5 * time.Minute, time.Hour,
}

// LatencyBounds returns the upper bounds of the buckets of
// Stats.Latency, shortest first.
func LatencyBounds() []time.Duration { return slices.Clone(latencyBounds[:]) }

// latencies counts deliveries by latency, in latencyBounds' buckets and
// one above the last, atomically.
type latencies struct {
	counts [len(latencyBounds) + 1]atomic.Uint64
	nanos  atomic.Int64
}

// sinceArrival is the time from ev's arrival or, if later, the replay
// that put it back, to now. Never below 0: an arrival read back from the
// spool has no monotonic reading, and one that a wall clock since stepped
// back puts in the future would take from the histogram's sum, which only
// grows.
func sinceArrival(ev spool.Event) time.Duration {
	from := ev.Received
	if ev.Replayed.After(from) {
		from = ev.Replayed
	}
	return max(time.Since(from), 0)
}

// observe counts a delivery that took d (sinceArrival).
func (l *latencies) observe(d time.Duration) {
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	l.counts[i].Add(1)
	l.nanos.Add(int64(d))
}

// Latencies is a snapshot of the delivery latency histogram.
type Latencies struct {
	// Counts[i] is the deliveries of at most LatencyBounds()[i] and more
	// than the one before; the last, those above every bound.
	Counts []uint64
	Sum    time.Duration
}

func (l *latencies) snapshot() Latencies {
	s := Latencies{Counts: make([]uint64, len(l.counts)), Sum: time.Duration(l.nanos.Load())}
	for i := range l.counts {
		s.Counts[i] = l.counts[i].Load()
	}
	return s
}
