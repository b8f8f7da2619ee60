package agent

import (
	"fmt"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

var t0 = time.Date(2024, 11, 15, 12, 0, 0, 0, time.UTC)

func TestDedupeUnarmedNeverDuplicate(t *testing.T) {
	d := newDedupe(time.Minute, 100)
	frame := []byte(sampleCall)
	for i := range 3 {
		if d.duplicate(frame, 1, t0.Add(time.Duration(i)*time.Second), false) {
			t.Fatalf("frame %d reported as duplicate while not armed and not overlapping", i)
		}
	}
	if len(d.seen) != 0 || len(d.order) != 0 {
		t.Errorf("unarmed dedupe stored %d/%d entries, want none", len(d.seen), len(d.order))
	}
	// Nothing was remembered: arming now does not make the frame a duplicate.
	d.arm(t0.Add(10 * time.Second))
	if d.duplicate(frame, 1, t0.Add(11*time.Second), false) {
		t.Error("a frame seen only while unarmed was remembered")
	}
}

func TestDedupeArmed(t *testing.T) {
	d := newDedupe(time.Minute, 100)
	d.arm(t0)
	a, b := []byte(sampleCall), []byte(sampleSMS)
	if d.duplicate(a, 1, t0, false) {
		t.Fatal("first frame reported as duplicate")
	}
	if !d.duplicate(append([]byte(nil), a...), 2, t0.Add(time.Second), false) {
		t.Error("identical frame within the window not reported as duplicate")
	}
	if d.duplicate(b, 1, t0.Add(2*time.Second), false) {
		t.Error("different frame reported as duplicate")
	}
	// One byte differs: not a duplicate.
	c := append([]byte(nil), a...)
	c[len(c)-2] = 'X'
	if d.duplicate(c, 1, t0.Add(3*time.Second), false) {
		t.Error("frame differing in one byte reported as duplicate")
	}
	if !d.duplicate(b, 2, t0.Add(4*time.Second), false) {
		t.Error("second copy of the other frame not reported as duplicate")
	}
}

func TestDedupeArmWindow(t *testing.T) {
	d := newDedupe(time.Minute, 100)
	d.arm(t0)
	frame := []byte(sampleSMS)
	// Still armed at exactly t0+window.
	if d.duplicate(frame, 1, t0.Add(time.Minute), false) {
		t.Fatal("first frame reported as duplicate")
	}
	if !d.duplicate(frame, 2, t0.Add(time.Minute), false) {
		t.Error("copy at the end of the armed window not reported as duplicate")
	}
	// After the armed window, without overlap, nothing is checked.
	if d.duplicate(frame, 1, t0.Add(time.Minute+time.Nanosecond), false) {
		t.Error("frame after the armed window reported as duplicate")
	}
	// A later arm never shortens the window.
	d.arm(t0.Add(-time.Hour))
	if d.armedUntil != t0.Add(time.Minute) {
		t.Errorf("arm with an earlier time moved armedUntil to %v", d.armedUntil)
	}
}

func TestDedupeOverlappingChecksWithoutArm(t *testing.T) {
	d := newDedupe(time.Minute, 100)
	frame := []byte(sampleAgentStatus)
	if d.duplicate(frame, 1, t0, true) {
		t.Fatal("first frame reported as duplicate")
	}
	if !d.duplicate(frame, 2, t0.Add(time.Second), true) {
		t.Error("copy on an overlapping connection not reported as duplicate")
	}
}

func TestDedupeExpiry(t *testing.T) {
	const window = 2 * time.Minute
	d := newDedupe(window, 100)
	frame := []byte(sampleContact)
	if d.duplicate(frame, 1, t0, true) {
		t.Fatal("first frame reported as duplicate")
	}
	if !d.duplicate(frame, 2, t0.Add(window), true) {
		t.Error("copy exactly one window later not reported as duplicate")
	}
	// Remembered at t0 only (the copy is not re-recorded): forgotten just
	// after t0+window.
	if d.duplicate(frame, 1, t0.Add(window+time.Nanosecond), true) {
		t.Error("copy after the window reported as duplicate")
	}
	// That last call recorded it again, at t0+window+1ns.
	if !d.duplicate(frame, 2, t0.Add(2*window), true) {
		t.Error("frame re-recorded after expiry not remembered")
	}
	// Expired entries are dropped from memory.
	other := []byte(sampleChangelog)
	d.duplicate(other, 1, t0.Add(10*window), true)
	if len(d.seen) != 1 {
		t.Errorf("after expiry %d frames remembered, want 1", len(d.seen))
	}
}

// A reader held up by the queue (a spool waiting for disk space) leaves
// other connections' copies unread in their sockets, to be read only when
// the wait ends: the window counts from the end of the hold, and checks
// stay armed after it. (A black-box review saw an event delivered twice,
// under two delivery ids, after a stall of 2 min 41 s across a rotation.)
func TestDedupeWindowCountsFromHold(t *testing.T) {
	const window = 2 * time.Minute
	d := newDedupe(window, 100)
	d.armFor = 10 * time.Second
	d.arm(t0)
	frame := []byte(sampleContact)
	if d.duplicate(frame, 1, t0, false) {
		t.Fatal("first frame reported as duplicate")
	}
	end := t0.Add(3 * window) // the hold ends long after the window
	d.held(end)
	if !d.duplicate(frame, 2, end.Add(5*time.Second), false) {
		t.Error("copy read just after a long hold not reported as duplicate")
	}
	if d.duplicate([]byte(sampleChangelog), 1, end.Add(window+d.armFor), true) || len(d.seen) != 1 {
		t.Errorf("%d frames remembered one window after the hold, want only the new one", len(d.seen))
	}
}

func TestDedupeMaxEntries(t *testing.T) {
	const max = 3
	d := newDedupe(time.Hour, max)
	frames := make([][]byte, 10)
	for i := range frames {
		frames[i] = fmt.Appendf(nil, `{"call_id":%d,"state":"calling"}`, i)
	}
	for i, f := range frames {
		if d.duplicate(f, 1, t0.Add(time.Duration(i)*time.Millisecond), true) {
			t.Fatalf("distinct frame %d reported as duplicate", i)
		}
	}
	now := t0.Add(time.Second)
	// The oldest frames were dropped to make room: the first is forgotten,
	// the last one is still remembered.
	if !d.duplicate(frames[9], 2, now, true) {
		t.Error("most recent frame forgotten")
	}
	if d.duplicate(frames[0], 1, now, true) {
		t.Error("oldest frame still remembered beyond max entries")
	}
}

// dedupe's comment: "It holds at most max entries".
func TestDedupeMemoryBound(t *testing.T) {
	const max = 3
	d := newDedupe(time.Hour, max)
	for i := range 10 {
		d.duplicate(fmt.Appendf(nil, `{"id":%d}`, i), 1, t0.Add(time.Duration(i)*time.Millisecond), true)
		if n := len(d.seen); n > max {
			t.Fatalf("after %d frames the dedupe holds %d entries, want at most %d", i+1, n, max)
		}
	}
}

// The ring of entries is compacted: memory stays bounded over many frames.
func TestDedupeCompactsOrder(t *testing.T) {
	const max = 100
	d := newDedupe(time.Hour, max)
	for i := range 20000 {
		d.duplicate(fmt.Appendf(nil, `{"id":%d}`, i), 1, t0.Add(time.Duration(i)*time.Microsecond), true)
	}
	if live := len(d.order) - d.head; live > max+1 {
		t.Errorf("%d live entries, want at most %d", live, max+1)
	}
	if len(d.order) > 2*4096+2*max {
		t.Errorf("order slice holds %d entries after compaction", len(d.order))
	}
	if len(d.seen) != len(d.order)-d.head {
		t.Errorf("map holds %d entries, order %d", len(d.seen), len(d.order)-d.head)
	}
}

// remembered is how many frames d holds for duplicate checks.
func (d *dedupe) remembered() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.seen)
}

// With one source, frames are hashed only while another connection could
// carry them too: not after the first connect, and again from a rotation's
// handover on.
func TestDedupeArmedOnlyWhenConnectionsCanOverlap(t *testing.T) {
	const ttl = 2 * time.Second // the agent rotates a quarter of that before expiry
	fake, recv, r := smsAgent(t, dialpadtest.Config{TokenTTL: ttl})
	gen := dialpadtest.NewGenerator(5)
	for range 10 {
		publish(t, fake, "sms", gen.SMS(), 1)
	}
	recv.waitCount(t, 10)
	if n := r.a.dedupe.remembered(); n != 0 {
		t.Errorf("%d frames hashed on the only connection after start, want none", n)
	}

	waitHandshakes(t, fake, 2, testWait) // the rotation's new connection
	for range 10 {
		fake.Publish("sms", gen.SMS()) // to one or both connections of the handover
	}
	waitUntil(t, testWait, func() bool { return r.a.Stats().Received >= 20 },
		func() string { return fmt.Sprintf("stats %+v, want 20 received", r.a.Stats()) })
	if n := r.a.dedupe.remembered(); n == 0 {
		t.Error("no frame hashed after a rotation began, want the handover's frames checked")
	}
}

// A copy is a duplicate only when another connection already carried as
// many: the same bytes sent twice on one connection are two events (as a
// webhook would get them), and a connection carrying them too drops as many
// copies as were forwarded. (A black-box review saw repeats on one
// connection dropped whenever several subscriptions ran.)
func TestDedupeCountsCopiesPerConnection(t *testing.T) {
	d := newDedupe(time.Minute, 100)
	frame := []byte(sampleCall)
	forwarded := func(conn uint64, at time.Duration) bool {
		return !d.duplicate(frame, conn, t0.Add(at), true)
	}
	steps := []struct {
		conn uint64
		want bool
	}{
		{1, true},  // first copy
		{1, true},  // Dialpad sent it again on the same connection
		{2, false}, // the other connection's copies of those two
		{2, false},
		{2, true}, // a third on that one: no other connection carried it
		{3, false},
		{3, false},
		{3, false},
		{1, false}, // the first connection's copy of the third
		{3, true},  // a fourth
	}
	for i, s := range steps {
		if got := forwarded(s.conn, time.Duration(i)*time.Second); got != s.want {
			t.Fatalf("copy %d (on connection %d): forwarded %v, want %v", i+1, s.conn, got, s.want)
		}
	}
}

// Copies another connection carried before a connection was dialled are
// of an earlier send, not of this one's: the same bytes sent again, after
// a rotation, are forwarded (found by a black-box review, which saw them
// dropped for many seconds after a rotation, and, sent on two connections
// at once, lost).
func TestDedupeCopiesBeforeDialDoNotCount(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	frame := []byte(sampleChangelog)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

	d := newDedupe(2*time.Minute, 1000)
	if d.duplicateSince(frame, 1, at(-60), at(0), true) {
		t.Fatal("first copy dropped")
	}
	// Connection 1 closed; connection 2, dialled at 2 s, carries it at 14 s.
	if d.duplicateSince(frame, 2, at(2), at(14), true) {
		t.Error("a send after connection 1 carried its copy, on a connection dialled after it, dropped")
	}
	// Connections 3 and 4, both dialled after that, carry the next send
	// of the same bytes: forwarded once.
	if d.duplicateSince(frame, 3, at(20), at(30), true) {
		t.Error("the older connection's copy of a new send dropped")
	}
	if !d.duplicateSince(frame, 4, at(21), at(30), true) {
		t.Error("the newer connection's copy of the same send forwarded too")
	}
	// With both open, a copy connection 3 carried after 4 was dialled
	// counts: 4's copy of it is dropped, as at any rotation.
	d = newDedupe(2*time.Minute, 1000)
	d.duplicateSince(frame, 3, at(0), at(5), true)
	if !d.duplicateSince(frame, 4, at(4), at(5), true) {
		t.Error("a copy of a send both connections were open for forwarded twice")
	}
}

// The same bytes sent again after a rotation (the old connection closed,
// duplicate checks still armed) reach the handler again.
func TestSameBytesAfterRotationForwarded(t *testing.T) {
	fake, recv, r := smsAgent(t, dialpadtest.Config{TokenTTL: time.Second})
	sms := dialpadtest.NewGenerator(8).SMS()
	sends := 0 // each reaches the handler once, on one connection or two
	publishAlone := func() {
		t.Helper()
		waitUntil(t, testWait, func() bool {
			if fake.Connections() != 1 {
				return false
			}
			frames := fake.Publish("sms", sms).Frames
			if frames > 0 {
				sends++
			}
			return frames == 1
		}, func() string { return "no moment with one connection open to publish on" })
	}
	r.a.dedupe.arm(time.Now()) // checks on, as during a rotation
	publishAlone()
	recv.waitCount(t, sends)
	h := fake.Handshakes()
	waitUntil(t, testWait, func() bool { return fake.Handshakes() > h && fake.Connections() == 1 },
		func() string { return "no rotation" })
	r.a.dedupe.arm(time.Now()) // as just after a rotation's start
	publishAlone()
	recv.waitCount(t, sends)
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := recv.deliveries(); len(got) != sends {
		t.Errorf("%d POSTs for %d sends", len(got), sends)
	}
}
