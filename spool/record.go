package spool

import (
	"encoding/binary"
	"encoding/json"
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
}

// Record is a stored event with its delivery history.
type Record struct {
	Event
	State    State     `json:"state"`
	Attempts []Attempt `json:"attempts,omitempty"`
	Reason   string    `json:"reason,omitempty"`  // why it is dead
	Finished time.Time `json:"finished,omitzero"` // when it was delivered or given up on
	Replays  int       `json:"replays,omitempty"` // times it was put back by `events replay`
}

// recordMeta is the stored form of everything but the body.
type recordMeta struct {
	ID       string    `json:"id"`
	Key      string    `json:"key"`
	Type     string    `json:"type,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	JWT      bool      `json:"jwt,omitempty"`
	Source   string    `json:"source,omitempty"`
	Target   string    `json:"target,omitempty"`
	Received time.Time `json:"received"`
	Replayed time.Time `json:"replayed,omitzero"`
	State    State     `json:"state"`
	Attempts []Attempt `json:"attempts,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Finished time.Time `json:"finished,omitzero"`
	Replays  int       `json:"replays,omitempty"`
}

// recordVersion is the first byte of every stored value; a value with
// another first byte is not ours.
const recordVersion = 2

// recordOutcome is appended, as JSON, to a record that leaves the pending
// bucket, so that acknowledging an event costs no decoding of the record.
type recordOutcome struct {
	State    State     `json:"state"`
	Attempts []Attempt `json:"attempts,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Finished time.Time `json:"finished"`
}

// errCorrupt is wrapped by decode for values it cannot read.
var errCorrupt = errors.New("corrupt record")

// encode lays a record out as: version byte, uvarint length of the JSON
// metadata, the metadata, uvarint length of the body, the body bytes exactly
// as they arrived; a finished record then has its outcome JSON to the end
// (withOutcome).
func (r *Record) encode() ([]byte, error) {
	meta, err := json.Marshal(recordMeta{
		ID: r.ID, Key: r.Key, Type: r.Type, Detail: r.Detail, JWT: r.JWT, Source: r.Source, Target: r.Target, Received: r.Received, Replayed: r.Replayed,
		State: r.State, Attempts: r.Attempts, Reason: r.Reason, Finished: r.Finished, Replays: r.Replays,
	})
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(meta)+len(r.Body))
	out = append(out, recordVersion)
	out = binary.AppendUvarint(out, uint64(len(meta)))
	out = append(out, meta...)
	out = binary.AppendUvarint(out, uint64(len(r.Body)))
	return append(out, r.Body...), nil
}

// withOutcome returns a copy of the stored pending value v with the
// outcome appended.
func withOutcome(v []byte, o recordOutcome) ([]byte, error) {
	tail, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(v)+len(tail))
	return append(append(out, v...), tail...), nil
}

// decode reads a stored value. The body is copied out of v (bbolt values
// are only valid inside their transaction).
func decode(seq uint64, v []byte) (Record, error) {
	if len(v) == 0 || v[0] != recordVersion {
		return Record{}, fmt.Errorf("%w %d: unknown format", errCorrupt, seq)
	}
	n, k := binary.Uvarint(v[1:])
	if k <= 0 || uint64(len(v)-1-k) < n {
		return Record{}, fmt.Errorf("%w %d: bad metadata length", errCorrupt, seq)
	}
	metaEnd := 1 + k + int(n)
	var m recordMeta
	if err := json.Unmarshal(v[1+k:metaEnd], &m); err != nil {
		return Record{}, fmt.Errorf("%w %d: %v", errCorrupt, seq, err)
	}
	bn, bk := binary.Uvarint(v[metaEnd:])
	if bk <= 0 || uint64(len(v)-metaEnd-bk) < bn {
		return Record{}, fmt.Errorf("%w %d: bad body length", errCorrupt, seq)
	}
	bodyEnd := metaEnd + bk + int(bn)
	r := Record{
		Event: Event{
			ID: m.ID, Seq: seq, Key: m.Key, Type: m.Type, Detail: m.Detail, JWT: m.JWT, Source: m.Source, Target: m.Target, Received: m.Received, Replayed: m.Replayed,
			Body: append([]byte(nil), v[metaEnd+bk:bodyEnd]...),
		},
		State: m.State, Attempts: m.Attempts, Reason: m.Reason, Finished: m.Finished, Replays: m.Replays,
	}
	if bodyEnd < len(v) {
		var o recordOutcome
		if err := json.Unmarshal(v[bodyEnd:], &o); err != nil {
			return Record{}, fmt.Errorf("%w %d: outcome: %v", errCorrupt, seq, err)
		}
		r.State, r.Reason, r.Finished = o.State, o.Reason, o.Finished
		r.Attempts = append(r.Attempts, o.Attempts...)
	}
	return r, nil
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

func keySeq(k []byte) uint64 { return binary.BigEndian.Uint64(k) }
