package agent

import (
	"sync"
	"time"
)

// gapTally counts the windows in which a source had no open connection,
// and their total length, counting a window still open as soon as it
// opens: an operator looks during an outage, while events are being lost,
// and the totals used to move only once the connection was back. A source's
// run goroutine opens and ends its window; any goroutine reads the totals.
type gapTally struct {
	mu    sync.Mutex
	n     int64                 // windows ended and open
	ended time.Duration         // total length of the windows that ended
	open  map[*source]time.Time // start of each source's open window
	shown time.Duration         // the largest total returned yet
}

// add counts a window that is known only once it has ended (a connection
// found silent after its replacement opened).
func (g *gapTally) add(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	g.ended += max(d, 0)
}

// begin counts s's window with no open connection, which started at from,
// from now on: its elapsed time grows the total until end.
func (g *gapTally) begin(s *source, from time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.open[s]; ok {
		return // counted already
	}
	if g.open == nil {
		g.open = make(map[*source]time.Time)
	}
	g.open[s] = from
	g.n++
}

// end closes s's open window, begun by begin, at length d (as logged); the
// window stays counted once.
func (g *gapTally) end(s *source, d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.open[s]; !ok {
		g.n++ // not begun: counted now
	}
	delete(g.open, s)
	g.ended += max(d, 0)
}

// totals returns the number of windows and their total length at now, the
// open ones up to now. The length never goes down from one call to the
// next: an open window read just after its connection opened (its logged
// end), or a wall clock stepped back under a window that began by it (the
// previous run's last sign of life), would otherwise read a little more
// than the window counts once it has ended, and a Prometheus counter that
// goes down reads as a reset.
func (g *gapTally) totals(now time.Time) (int64, time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	d := g.ended
	for _, from := range g.open {
		d += max(now.Sub(from), 0)
	}
	g.shown = max(g.shown, d)
	return g.n, g.shown
}
