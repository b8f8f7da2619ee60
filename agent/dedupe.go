package agent

import (
	"crypto/sha256"
	"encoding/json"
	"sync"
	"time"
)

// dedupe remembers the frames seen while two connections may overlap
// (rotation, several sources) so that an event received on both is queued
// once. It is armed by every connection attempt and opening, for armFor;
// outside that (and with one connection open), frames are not hashed at
// all, so a steady stream costs no memory. Entries are remembered for window. It holds at most max
// entries, dropping the oldest first.
type dedupe struct {
	window time.Duration
	max    int
	armFor time.Duration // how long arm keeps checks on; default window

	mu         sync.Mutex
	armedUntil time.Time
	seen       map[[sha256.Size]byte]time.Time
	order      []dedupeEntry // insertion order, oldest at head
	head       int
}

type dedupeEntry struct {
	sum [sha256.Size]byte
	at  time.Time
}

func newDedupe(window time.Duration, max int) *dedupe {
	return &dedupe{window: window, max: max, armFor: window, seen: make(map[[sha256.Size]byte]time.Time)}
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

// duplicate records data and reports whether the same bytes were recorded
// within the window. overlapping forces the check even when not armed.
func (d *dedupe) duplicate(data []byte, now time.Time, overlapping bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(now)
	if !overlapping && now.After(d.armedUntil) {
		return false
	}
	sum := sha256.Sum256(data)
	if _, ok := d.seen[sum]; ok {
		return true
	}
	d.seen[sum] = now
	d.order = append(d.order, dedupeEntry{sum: sum, at: now})
	d.expire(now)
	return false
}

// expire drops entries older than the window or beyond max. d.mu must be held.
func (d *dedupe) expire(now time.Time) {
	for d.head < len(d.order) {
		e := d.order[d.head]
		if len(d.order)-d.head <= d.max && now.Sub(e.at) <= d.window {
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
