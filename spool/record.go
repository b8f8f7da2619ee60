package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// State is where an event stands in the spool.
type State string

// The states of a stored event.
const (
	Pending   State = "pending"   // waiting for delivery (or being delivered)
	Delivered State = "delivered" // the handler answered 2xx; kept as bounded history
	Dead      State = "dead"      // given up on: final answer, max attempts or max age
)

// Attempt is one POST of an event to the handler.
type Attempt struct {
	At       time.Time     `json:"at"`
	Status   int           `json:"status,omitempty"` // 0 when there was no answer
	Error    string        `json:"error,omitempty"`  // why it failed; "" when delivered
	Duration time.Duration `json:"duration"`
	// RetryAfter is the wait the handler's answer (429 or 503) asked for
	// with Retry-After; 0 when it gave none. A restart waits it out too.
	RetryAfter time.Duration `json:"retry_after,omitempty"`
	// Omitted, when not 0, makes this entry not an attempt but a summary
	// of that many attempts not kept (see Keep), made from At for
	// Duration; Status and Error are then empty.
	Omitted int `json:"omitted,omitempty"`
}

// Record is a stored event with its delivery history.
type Record struct {
	Event
	State    State     `json:"state"`
	Attempts []Attempt `json:"attempts,omitempty"`
	Reason   string    `json:"reason,omitempty"`  // why it is dead
	Finished time.Time `json:"finished,omitzero"` // when it was delivered or given up on
	Replays  int       `json:"replays,omitempty"` // times it was put back by `events replay`
	// Rejected marks a frame refused on arrival (a bad signature): a dead
	// letter that `events replay` never puts back.
	Rejected bool `json:"rejected,omitempty"`
	// NonEvent marks a frame kept although it is not an event
	// (--non-event-frames keep): a dead letter that `events replay` puts
	// back only when named by id, never by --dead or --since.
	NonEvent bool `json:"non_event,omitempty"`
}

// outcome is how a record left the pending state.
type outcome struct {
	State    State
	Attempts []Attempt
	Reason   string
	Finished time.Time
}

// errCorrupt is wrapped for frames whose contents cannot be read.
var errCorrupt = errors.New("corrupt record")

// stateCode is a State as one byte on disk.
func stateCode(s State) byte {
	switch s {
	case Delivered:
		return 1
	case Dead:
		return 2
	}
	return 0
}

func stateOf(c byte) (State, bool) {
	switch c {
	case 0:
		return Pending, true
	case 1:
		return Delivered, true
	case 2:
		return Dead, true
	}
	return "", false
}

// appendRecord lays r out after b: seq, the seq it replaces (an event put
// back by `events replay` gets a new one; 0 for none), the fields, the
// earlier attempts and last the body, exactly as it arrived. Strings and
// the body are length-prefixed; numbers are varints; times are Unix
// nanoseconds (0 for the zero time).
func appendRecord(b []byte, r *Record, replaces uint64) []byte {
	b = binary.AppendUvarint(b, r.Seq)
	b = binary.AppendUvarint(b, replaces)
	var flags byte
	if r.JWT {
		flags |= 1
	}
	if r.Rejected {
		flags |= 2
	}
	if r.NonEvent {
		flags |= 4
	}
	b = append(b, flags)
	b = appendTime(b, r.Received)
	b = appendTime(b, r.Replayed)
	b = binary.AppendUvarint(b, uint64(r.Replays))
	for _, s := range [...]string{r.ID, r.Key, r.Type, r.Detail, r.Source, r.Target} {
		b = appendString(b, s)
	}
	b = appendAttempts(b, r.Attempts)
	b = binary.AppendUvarint(b, uint64(len(r.Body)))
	return append(b, r.Body...)
}

// appendOutcome lays o out after b.
func appendOutcome(b []byte, o *outcome) []byte {
	b = append(b, stateCode(o.State))
	b = appendTime(b, o.Finished)
	b = appendString(b, o.Reason)
	return appendAttempts(b, o.Attempts)
}

// omittedStatus: an attempt's status field on disk holds a summary's
// Omitted count as omittedStatus+Omitted (format 5); real statuses are
// below it.
const omittedStatus = 1000

// retryAfterFlag, set in an attempt's status field on disk, says that the
// attempt's RetryAfter follows its duration (format 6).
const retryAfterFlag = 1 << 42

func appendAttempts(b []byte, as []Attempt) []byte {
	b = binary.AppendUvarint(b, uint64(len(as)))
	for _, a := range as {
		b = appendTime(b, a.At)
		status := uint64(min(max(a.Status, 0), omittedStatus-1))
		if a.Omitted > 0 {
			status = omittedStatus + uint64(a.Omitted)
		}
		if a.RetryAfter > 0 {
			status |= retryAfterFlag
		}
		b = binary.AppendUvarint(b, status)
		b = appendString(b, a.Error)
		b = binary.AppendVarint(b, int64(a.Duration))
		if a.RetryAfter > 0 {
			b = binary.AppendVarint(b, int64(a.RetryAfter))
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// decoder reads what the append functions wrote; the first failure sticks
// in err and every later read returns a zero value.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("bad %s", what)
	}
	d.b = nil
}

func (d *decoder) uvarint(what string) uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte(what string) byte {
	if len(d.b) == 0 {
		d.fail(what)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// bytes returns the next length-prefixed bytes, not copied.
func (d *decoder) bytes(what string) []byte {
	n := d.uvarint(what)
	if n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string(what string) string { return string(d.bytes(what)) }

func (d *decoder) time(what string) time.Time {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return time.Time{}
	}
	d.b = d.b[n:]
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v)
}

func (d *decoder) attempts() []Attempt {
	n := d.uvarint("attempt count")
	if n > uint64(len(d.b)) { // each attempt takes at least one byte
		d.fail("attempt count")
		return nil
	}
	var as []Attempt
	for range n {
		a := Attempt{At: d.time("attempt time")}
		s := d.uvarint("attempt status")
		asked := s&retryAfterFlag != 0
		switch s &^= retryAfterFlag; {
		case s > omittedStatus+1<<40:
			d.fail("attempt status")
		case s > omittedStatus:
			a.Omitted = int(s - omittedStatus)
		default:
			a.Status = int(s)
		}
		a.Error = d.string("attempt error")
		v, k := binary.Varint(d.b)
		if k <= 0 {
			d.fail("attempt duration")
			return nil
		}
		d.b = d.b[k:]
		a.Duration = time.Duration(v)
		if asked {
			v, k := binary.Varint(d.b)
			if k <= 0 || v <= 0 {
				d.fail("attempt retry-after")
				return nil
			}
			d.b = d.b[k:]
			a.RetryAfter = time.Duration(v)
		}
		as = append(as, a)
	}
	return as
}

// record reads what appendRecord wrote. The body points into the
// decoder's bytes.
func (d *decoder) record() (r Record, replaces uint64) {
	r.Seq = d.uvarint("seq")
	replaces = d.uvarint("replaced seq")
	flags := d.byte("flags")
	r.JWT, r.Rejected, r.NonEvent = flags&1 != 0, flags&2 != 0, flags&4 != 0
	r.Received = d.time("received time")
	r.Replayed = d.time("replay time")
	r.Replays = int(d.uvarint("replays"))
	r.ID = d.string("id")
	r.Key = d.string("key")
	r.Type = d.string("type")
	r.Detail = d.string("detail")
	r.Source = d.string("source")
	r.Target = d.string("target")
	r.Attempts = d.attempts()
	r.Body = d.bytes("body")
	r.State = Pending
	return r, replaces
}

// outcome reads what appendOutcome wrote.
func (d *decoder) outcome() outcome {
	s, ok := stateOf(d.byte("state"))
	if !ok || s == Pending {
		d.fail("state")
	}
	return outcome{State: s, Finished: d.time("finish time"), Reason: d.string("reason"), Attempts: d.attempts()}
}

// apply puts o on r. The attempts before a replay and those after it
// make one history, bounded as one (Keep).
func (r *Record) apply(o outcome) {
	r.State, r.Reason, r.Finished = o.State, o.Reason, o.Finished
	r.Attempts = Keep(append(r.Attempts, o.Attempts...))
}
