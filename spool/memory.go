package spool

import (
	"context"
	"time"
)

// Memory is the queue of `--no-spool`: events live in memory only, so they
// survive neither a crash nor a restart, and dead letters are not kept
// (the agent logs them). It is safe for concurrent use.
type Memory struct{ idx *index }

// NewMemory returns an empty in-memory queue.
func NewMemory() *Memory { return &Memory{idx: newIndex()} }

// Append queues ev and calls committed with it (Seq set) before returning.
func (q *Memory) Append(ev Event, committed func(Event)) error {
	ev, err := q.idx.add(ev)
	if err != nil {
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
func (q *Memory) Ack(ev Event, _ []Attempt) { q.idx.done(ev) }

// Dead releases a given-up event's key; nothing is kept.
func (q *Memory) Dead(ev Event, _ string, _ []Attempt) { q.idx.done(ev) }

// Len reports the events queued or being delivered.
func (q *Memory) Len() int { return q.idx.len() }

// Close stops Append; Next drains what is queued, then returns ErrClosed.
func (q *Memory) Close() { q.idx.close() }

// StopWaiting does nothing: Memory never waits for a store.
func (q *Memory) StopWaiting() {}

// Paused reports 0: Memory never waits for a store.
func (q *Memory) Paused() time.Duration { return 0 }

// Durable reports false: what is queued is lost when the process ends.
func (q *Memory) Durable() bool { return false }

// Hold gives back an event not delivered because the agent is stopping:
// in memory it is lost, which the agent reports. Unlike Disk.Hold it
// releases the key: ev is lost whatever happens, so holding the key would
// only lose the key's later events too, which the drain may still deliver.
func (q *Memory) Hold(ev Event) { q.idx.done(ev) }

// Tried keeps nothing: an in-memory event does not outlive the process.
func (q *Memory) Tried(Event, []Attempt) {}

// Reject is for an event refused on arrival (e.g. a bad signature); in
// memory nothing is kept (the agent logs it).
func (q *Memory) Reject(Event, string) {}

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
