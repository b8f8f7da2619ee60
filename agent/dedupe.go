package agent

import (
	"encoding/json"
	"hash/maphash"
	"sync"
	"time"
)

// dedupe remembers the frames seen while two connections may overlap
// (rotation, several sources) so that an event received on both is queued
// once. It counts the copies of each frame per connection: a copy is a
// duplicate only when another connection already carried as many, so the
// same bytes sent twice on one connection (Dialpad repeating an event, as
// it would to a webhook) are forwarded twice. It is armed by every
// connection attempt and opening that another connection could overlap
// (see Agent.armDedupe), for armFor; outside that (and with one connection
// open), frames are not hashed at all, so a steady stream costs no memory.
// Entries are remembered for window. It holds at most max entries,
// dropping the oldest first.
type dedupe struct {
	window time.Duration
	max    int
	armFor time.Duration // how long arm keeps checks on; default window

	seeds [2]maphash.Seed // random per process

	mu         sync.Mutex
	armedUntil time.Time
	heldUntil  int64 // unix nanos: when a reader was last held up by the queue (see held)
	seen       map[digest]tally
	order      []dedupeEntry // insertion order, oldest at head
	head       int
}

// digest identifies a frame's bytes: two 64-bit hashes with independent
// random seeds. Two different frames share one with a chance of about
// n²/2¹²⁹ among n frames remembered (below 10⁻²⁸ for a million), and with
// secret seeds no one can make them; 24 bytes an entry, where a SHA-256
// took 56 and about ten times the CPU.
type digest [2]uint64

// tally is what a remembered frame's connections carried: the copies on
// the first connection that carried it, on any others (rarely more than
// one, at a rotation), and the most copies one connection carried: those
// were forwarded. 24 bytes, with no allocation for a frame on one
// connection.
type tally struct {
	first     uint64 // conn.id
	n         uint32
	forwarded uint32
	others    *[]connCopies
}

type connCopies struct {
	conn uint64 // conn.id
	n    uint32
}

// copyOn counts one more copy on conn and reports whether it is beyond
// what another connection carried: then it is forwarded.
func (t *tally) copyOn(conn uint64) bool {
	var n *uint32
	if t.first == conn {
		n = &t.n
	} else {
		if t.others == nil {
			t.others = new([]connCopies)
		}
		for i := range *t.others {
			if (*t.others)[i].conn == conn {
				n = &(*t.others)[i].n
			}
		}
		if n == nil {
			*t.others = append(*t.others, connCopies{conn: conn})
			n = &(*t.others)[len(*t.others)-1].n
		}
	}
	*n++
	if *n <= t.forwarded {
		return false
	}
	t.forwarded = *n
	return true
}

type dedupeEntry struct {
	sum digest
	at  int64 // Unix nanoseconds
}

func newDedupe(window time.Duration, max int) *dedupe {
	return &dedupe{window: window, max: max, armFor: window, seen: make(map[digest]tally),
		seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
}

// arm makes the frames of the next armFor subject to duplicate checks.
func (d *dedupe) arm(now time.Time) {
	d.mu.Lock()
	if until := now.Add(d.armFor); until.After(d.armedUntil) {
		d.armedUntil = until
	}
	d.mu.Unlock()
}

// checking reports whether a frame arriving now would be checked.
func (d *dedupe) checking(now time.Time, overlapping bool) bool {
	if overlapping {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return !now.After(d.armedUntil)
}

// claimsIdentity is what identifies a JWT event across connections: its
// claims without the registered time claims (iat, exp, nbf), which Dialpad
// may mint anew for each connection, re-encoded with sorted keys. Values
// stay raw, so large numbers are compared exactly. A frame whose payload is
// not a JSON object identifies itself.
func claimsIdentity(jwt []byte) []byte {
	payload, err := jwtPayload(jwt)
	if err != nil {
		return jwt
	}
	var claims map[string]json.RawMessage
	if json.Unmarshal(payload, &claims) != nil {
		return jwt
	}
	delete(claims, "iat")
	delete(claims, "exp")
	delete(claims, "nbf")
	b, err := json.Marshal(claims)
	if err != nil {
		return jwt
	}
	return append([]byte("jwt-claims:"), b...)
}

// held records that a reader was held up until now handing a frame to the
// queue (a spool waiting for disk space). Other connections' copies of the
// frames read before may then still wait, unread, in their sockets: the
// window counts from now for every entry, and checks stay armed for
// armFor from now.
func (d *dedupe) held(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.heldUntil = max(d.heldUntil, now.UnixNano())
	if until := now.Add(d.armFor); until.After(d.armedUntil) {
		d.armedUntil = until
	}
}

// duplicate records data, arrived on connection conn, and reports whether
// it is a copy of one another connection carried within the window.
// overlapping forces the check even when not armed.
func (d *dedupe) duplicate(data []byte, conn uint64, now time.Time, overlapping bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(now)
	if !overlapping && now.After(d.armedUntil) {
		return false
	}
	sum := digest{maphash.Bytes(d.seeds[0], data), maphash.Bytes(d.seeds[1], data)}
	if t, ok := d.seen[sum]; ok {
		fresh := t.copyOn(conn)
		d.seen[sum] = t
		return !fresh
	}
	d.seen[sum] = tally{first: conn, n: 1, forwarded: 1}
	d.order = append(d.order, dedupeEntry{sum: sum, at: now.UnixNano()})
	d.expire(now)
	return false
}

// expire drops entries older than the window or beyond max; an entry's age
// counts from heldUntil at the earliest. d.mu must be held.
func (d *dedupe) expire(now time.Time) {
	for d.head < len(d.order) {
		e := d.order[d.head]
		if len(d.order)-d.head <= d.max && now.UnixNano()-max(e.at, d.heldUntil) <= int64(d.window) {
			break
		}
		delete(d.seen, e.sum)
		d.order[d.head] = dedupeEntry{}
		d.head++
	}
	if d.head == len(d.order) {
		d.order = d.order[:0]
		d.head = 0
	} else if d.head > 4096 && d.head*2 > len(d.order) {
		n := copy(d.order, d.order[d.head:])
		d.order = d.order[:n]
		d.head = 0
	}
}
