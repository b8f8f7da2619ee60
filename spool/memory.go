package spool

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Memory is the queue of `--no-spool`: events live in memory only, so they
// survive neither a crash nor a restart, and dead letters are not kept
// (the agent logs them). It is safe for concurrent use.
type Memory struct {
	idx *index
	cfg MemoryConfig

	mu         sync.Mutex
	used       int64         // body bytes appended and not done; kept when MaxBytes is set
	freed      chan struct{} // closed and replaced when bytes are freed while an Append waits
	fullSince  time.Time     // when an Append began waiting for room; zero once the queue is down to half the bound
	waiting    int           // Appends waiting for room now
	warnedAt   time.Time     // when the last "full" warning was logged
	warned     bool          // the "full" warning of this wait was logged
	giveUp     chan struct{} // closed by StopWaiting
	giveUpOnce sync.Once
}

// MemoryConfig configures a Memory queue; zero values get the defaults
// named.
type MemoryConfig struct {
	// MaxBytes bounds the event bodies queued and not done yet: an Append
	// that would pass it waits until deliveries free room (an event
	// alone may pass it), and with it the reader that called it, so
	// memory stays bounded behind a slow or dead handler. 0: no bound.
	MaxBytes int64
	// Logger gets a warning when Append begins to wait for room, and when
	// the queue is down to half MaxBytes again (not at every event that
	// gets in while a slow handler keeps it full); nil discards.
	Logger *slog.Logger
}

// NewMemory returns an empty in-memory queue.
func NewMemory(cfg MemoryConfig) *Memory {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Memory{idx: newIndex(), cfg: cfg, freed: make(chan struct{}), giveUp: make(chan struct{})}
}

// Append queues ev and calls committed with it (Seq set) before returning.
// With MaxBytes set, it first waits for room; StopWaiting ends the wait
// with ErrClosed.
func (q *Memory) Append(ev Event, committed func(Event)) error {
	n := int64(len(ev.Body))
	if err := q.reserve(n); err != nil {
		return err
	}
	ev, err := q.idx.add(ev)
	if err != nil {
		q.free(n)
		return err
	}
	if committed != nil {
		committed(ev)
	}
	return nil
}

// Next blocks until an event whose key is free can be handed out.
func (q *Memory) Next(ctx context.Context) (Event, error) { return q.idx.next(ctx) }

// Ack releases a delivered event's key.
func (q *Memory) Ack(ev Event, _ []Attempt) { q.done(ev) }

// Dead releases a given-up event's key; nothing is kept.
func (q *Memory) Dead(ev Event, _ string, _ []Attempt) { q.done(ev) }

// done ends ev: its key is free, its bytes are room again.
func (q *Memory) done(ev Event) {
	q.idx.done(ev)
	q.free(int64(len(ev.Body)))
}

// fullWarnEvery is the least time between two "queue full" warnings.
const fullWarnEvery = time.Minute

// reserve waits until n more bytes of bodies fit under MaxBytes, and
// counts them.
func (q *Memory) reserve(n int64) error {
	if q.cfg.MaxBytes <= 0 {
		return nil
	}
	q.mu.Lock()
	for q.used > 0 && q.used+n > q.cfg.MaxBytes {
		if q.fullSince.IsZero() {
			q.fullSince = time.Now()
		}
		// Once a minute at most: a queue that keeps refilling would
		// otherwise log at every half-emptying.
		if !q.warned && time.Since(q.warnedAt) >= fullWarnEvery {
			q.warned, q.warnedAt = true, time.Now()
			q.cfg.Logger.Warn("in-memory queue full (--no-spool): reading the websocket pauses until deliveries make room; what Dialpad sends meanwhile waits in the connection",
				"queued_bytes", q.used, "max_bytes", q.cfg.MaxBytes, "queued_events", q.idx.len())
		}
		freed := q.freed
		q.waiting++
		q.mu.Unlock()
		select {
		case <-freed:
		case <-q.giveUp:
			q.mu.Lock()
			q.waiting--
			q.mu.Unlock()
			return ErrClosed
		}
		q.mu.Lock()
		q.waiting--
	}
	q.used += n
	q.mu.Unlock()
	return nil
}

// free counts n bytes as room again.
func (q *Memory) free(n int64) {
	if q.cfg.MaxBytes <= 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.used -= n
	if q.waiting > 0 { // a channel per delivery otherwise: this is every Ack's path
		close(q.freed)
		q.freed = make(chan struct{})
	}
	if !q.fullSince.IsZero() && q.waiting == 0 && q.used <= q.cfg.MaxBytes/2 {
		if q.warned {
			q.cfg.Logger.Warn("in-memory queue down to half its bound: reading goes on freely", "after", time.Since(q.fullSince).Round(time.Millisecond).String())
		}
		q.fullSince, q.warned = time.Time{}, false
	}
}

// Len reports the events queued or being delivered.
func (q *Memory) Len() int { return q.idx.len() }

// Close stops Append; Next drains what is queued, then returns ErrClosed.
func (q *Memory) Close() { q.idx.close() }

// StopWaiting makes an Append waiting for room, and every later one that
// would, return ErrClosed: the agent is stopping.
func (q *Memory) StopWaiting() { q.giveUpOnce.Do(func() { close(q.giveUp) }) }

// Paused reports for how long Appends have been waiting for room (since
// the first had to, until the queue is down to half the bound), or 0.
func (q *Memory) Paused() time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fullSince.IsZero() {
		return 0
	}
	return time.Since(q.fullSince)
}

// Durable reports false: what is queued is lost when the process ends.
func (q *Memory) Durable() bool { return false }

// OnDisk is false: nothing in memory outlives the process.
func (q *Memory) OnDisk(Event) bool { return false }

// Hold gives back an event not delivered because the agent is stopping:
// in memory it is lost, which the agent reports. Unlike Disk.Hold it
// releases the key: ev is lost whatever happens, so holding the key would
// only lose the key's later events too, which the drain may still deliver.
func (q *Memory) Hold(ev Event) { q.done(ev) }

// Tried keeps nothing: an in-memory event does not outlive the process.
func (q *Memory) Tried(Event, []Attempt) {}

// Reject is for a frame refused on arrival (e.g. a bad signature); in
// memory nothing is kept (the agent logs it).
func (q *Memory) Reject(Event, string, bool) error { return nil }

// Park gives back ev, whose delivery waits for a retry, until p is due,
// with the attempts made so far: Next hands it out again then, with them
// in Tried. Its key stays busy meanwhile.
func (q *Memory) Park(ev Event, attempts []Attempt, p Parking) error {
	ev.Tried, ev.Due = attempts, time.Time{}
	q.idx.park(newEntry(ev), p)
	return nil
}

// Unpark puts every parked event back on its own due time: paced ones
// are due sooner (the handler is back).
func (q *Memory) Unpark() { q.idx.unpaceAll() }

// Share makes a class of keys (such as "call" in "call:123") with n or
// more events handed out and not done yield to the class with the fewest
// events on workers they keep (see Waits). The agent sets it to one less
// than its --concurrency (the worker asking holds none), so that one slow
// or failing type cannot keep every worker. 0 (the default) hands out the
// oldest event whatever its class.
func (q *Memory) Share(n int) { q.idx.setShare(n) }

// Waits tells that ev, handed out by Next, waits for its retries on a
// worker of its own from now until it is done: it no longer counts as
// taking one of the workers its class shares (see Share).
func (q *Memory) Waits(ev Event) { q.idx.waits(ev) }
