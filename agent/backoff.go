package agent

import (
	"math/rand/v2"
	"time"
)

// backoff produces jittered, capped, exponentially growing waits. It is
// owned by one goroutine.
type backoff struct {
	min, max time.Duration
	n        int
}

// next returns the wait before the next attempt: a random duration in
// [d/2, d] where d doubles from min up to max ("equal jitter").
func (b *backoff) next() time.Duration {
	d := b.min
	for i := 0; i < b.n && d < b.max; i++ {
		d *= 2 // d < max here, so this cannot overflow for any sane max
	}
	d = min(d, b.max)
	b.n++
	half := d / 2
	return half + rand.N(d-half+1)
}

// reset starts the sequence again from min.
func (b *backoff) reset() { b.n = 0 }
