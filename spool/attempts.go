package spool

// An event's attempt history is bounded: a handler down for a day is
// retried thousands of times per event, and keeping every attempt would
// grow memory and the spool without end. Keep keeps the first
// KeptFirst and the last KeptLast attempts; the ones between are summed
// up by one Attempt with Omitted set.
const (
	KeptFirst = 10
	KeptLast  = 90
)

// CountAttempts is how many attempts as stands for: one per attempt, plus
// those each summary (Omitted) stands for.
func CountAttempts(as []Attempt) int {
	n := 0
	for _, a := range as {
		n += a.count()
	}
	return n
}

func (a Attempt) count() int {
	if a.Omitted > 0 {
		return a.Omitted
	}
	return 1
}

// Keep bounds as: when it holds more than KeptFirst+KeptLast entries, the
// ones between the first KeptFirst and the last KeptLast are replaced by
// one summary with Omitted set to the attempts they stand for, At the
// start of the first of them and Duration until the end of the last. It
// returns as itself when nothing is dropped, else a new slice.
func Keep(as []Attempt) []Attempt {
	if len(as) <= KeptFirst+KeptLast+1 {
		return as
	}
	mid := as[KeptFirst : len(as)-KeptLast]
	first, last := mid[0], mid[len(mid)-1]
	sum := Attempt{At: first.At, Omitted: CountAttempts(mid)}
	if end := last.At.Add(last.Duration); !first.At.IsZero() && end.After(first.At) {
		sum.Duration = end.Sub(first.At)
	}
	out := make([]Attempt, 0, KeptFirst+1+KeptLast)
	out = append(out, as[:KeptFirst]...)
	out = append(out, sum)
	return append(out, as[len(as)-KeptLast:]...)
}

// LastAttempt is the last real attempt of as (not a summary), and false
// when there is none.
func LastAttempt(as []Attempt) (Attempt, bool) {
	for i := len(as) - 1; i >= 0; i-- {
		if as[i].Omitted == 0 {
			return as[i], true
		}
	}
	return Attempt{}, false
}
