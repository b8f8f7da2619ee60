// Package spool is the queue between the websocket readers and the delivery
// workers: events are appended in arrival order and handed out so that events
// with the same ordering key are delivered one at a time, in order, while
// different keys go in parallel.
package spool

import (
	"encoding/json"
	"strings"
	"time"
)

// Event is one frame accepted by the agent, waiting for delivery.
type Event struct {
	// ID is the delivery id, sent to the handler on every attempt.
	ID string
	// Seq is the arrival number assigned by Append, starting at 1.
	Seq uint64
	// Key groups events that must be delivered in arrival order
	// (e.g. "call:123"). Events with different keys may overtake each other.
	Key string
	// Type is the Dialpad event type (call, sms, …) when known.
	Type string
	// Detail is a word for log lines: the call state, SMS status, ….
	Detail string
	// JWT is true when Body is a compact JWT rather than a JSON object.
	JWT bool
	// Body holds the frame bytes exactly as they arrived.
	Body []byte
	// Source names the connection the frame came from, for logs.
	Source string
	// Target names the route (handler) the event is for; "" is the default.
	Target string
	// Received is when the frame was read from the websocket.
	Received time.Time
	// Replayed is when `events replay` last put the event back; zero if
	// never. Its max age counts from the later of the two.
	Replayed time.Time
	// Tried holds the attempts already made to deliver the event since it
	// was received (or replayed), as recorded by Tried before the agent
	// last stopped; Next fills it from the spool. A delivery goes on from
	// them (attempt count, history).
	Tried []Attempt
	// Due is when the next attempt of an event given back by Park is due
	// (Next hands it out then); zero for any other event.
	Due time.Time

	// stored marks an event of a Disk spool whose body was not kept in
	// memory (Disk.cache) and so must not be returned to the budget.
	stored bool
}

// Raw reports whether the event's body is neither a JWT nor JSON: a frame
// kept although it was no event (--non-event-frames keep), whose key is
// "other" or "other:<type>". Only such a key is looked at, so that no
// event's body is parsed for it.
func (e Event) Raw() bool {
	if e.JWT || (e.Key != "other" && !strings.HasPrefix(e.Key, "other:")) {
		return false
	}
	return !json.Valid(e.Body)
}
