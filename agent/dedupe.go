package agent

import (
	"encoding/json"
	"hash/maphash"
	"math"
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
	heldUntil  int64 // monoNanos: when a reader was last held up by the queue (see held)
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

// tally is what a remembered frame's connections carried: its first copy
// and any later ones, each with its connection and when it arrived. 24
// bytes, with no allocation for a frame carried once.
type tally struct {
	first copyAt
	more  *[]copyAt // copies after the first; rarely more than one, at a rotation
}

// copyAt is one copy of a frame: the connection that carried it (conn.id)
// and when it arrived (monoNanos).
type copyAt struct {
	conn uint64
	at   int64
}

// add records one more copy, on conn at now, and reports whether it is
// beyond what another connection carried since (monoNanos, as now): then
// it is forwarded. since is when conn's dial began: the server sends a
// frame to the connections open then, so a copy another connection
// carried before conn was dialled is of an earlier send, not this one's
// (identical bytes sent again), and does not count.
func (t *tally) add(conn uint64, since, now int64) bool {
	if t.more == nil {
		t.more = new([]copyAt)
	}
	mine := 0
	var buf [4]copyCount
	others := buf[:0]
	for i := -1; i < len(*t.more); i++ {
		c := t.first
		if i >= 0 {
			c = (*t.more)[i]
		}
		if c.conn == conn {
			mine++
			continue
		}
		if c.at < since {
			continue
		}
		j := 0
		for j < len(others) && others[j].conn != c.conn {
			j++
		}
		if j == len(others) {
			others = append(others, copyCount{conn: c.conn})
		}
		others[j].n++
	}
	*t.more = append(*t.more, copyAt{conn: conn, at: now})
	most := 0
	for _, o := range others {
		most = max(most, o.n)
	}
	return mine+1 > most
}

// copyCount is how many copies of a frame one connection carried.
type copyCount struct {
	conn uint64
	n    int
}

type dedupeEntry struct {
	sum digest
	at  int64 // monoNanos
}

func newDedupe(window time.Duration, max int) *dedupe {
	return &dedupe{window: window, max: max, armFor: window, seen: make(map[digest]tally), heldUntil: math.MinInt64,
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

// checking reports whether a frame arriving now is checked: always while
// another connection overlaps, else while armed. A caller that decides
// so then checks the frame with duplicateSince, forced, so that the
// decision stands even if checks are armed in between. It drops the
// entries the window has passed meanwhile, which a frame not checked
// does not reach duplicateSince to do.
func (d *dedupe) checking(now time.Time, overlapping bool) bool {
	if overlapping {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(now)
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
	d.heldUntil = max(d.heldUntil, monoNanos(now))
	if until := now.Add(d.armFor); until.After(d.armedUntil) {
		d.armedUntil = until
	}
}

// duplicate records data, arrived on connection conn, and reports whether
// it is a copy of one another connection carried within the window.
// overlapping forces the check even when not armed.
func (d *dedupe) duplicate(data []byte, conn uint64, now time.Time, overlapping bool) bool {
	return d.duplicateSince(data, conn, time.Time{}, now, overlapping)
}

// duplicateSince is duplicate for a connection whose dial began at since:
// only the copies other connections carried from then on count (see
// tally.add). Zero: all of them. overlapping forces the check, as for
// duplicate; a caller that asked checking passes its answer.
func (d *dedupe) duplicateSince(data []byte, conn uint64, since, now time.Time, overlapping bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(now)
	if !overlapping && now.After(d.armedUntil) {
		return false
	}
	sum := digest{maphash.Bytes(d.seeds[0], data), maphash.Bytes(d.seeds[1], data)}
	if t, ok := d.seen[sum]; ok {
		from := int64(math.MinInt64)
		if !since.IsZero() {
			from = monoNanos(since)
		}
		fresh := t.add(conn, from, monoNanos(now))
		d.seen[sum] = t
		return !fresh
	}
	at := monoNanos(now)
	d.seen[sum] = tally{first: copyAt{conn: conn, at: at}}
	d.order = append(d.order, dedupeEntry{sum: sum, at: at})
	d.expire(now)
	return false
}

// expire drops entries older than the window or beyond max; an entry's age
// counts from heldUntil at the earliest. d.mu must be held.
func (d *dedupe) expire(now time.Time) {
	for d.head < len(d.order) {
		e := d.order[d.head]
		if len(d.order)-d.head <= d.max && monoNanos(now)-max(e.at, d.heldUntil) <= int64(d.window) {
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
