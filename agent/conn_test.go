package agent

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// openConn opens a connection to the fake's websocket wsID, as source.run
// does, without starting its reader.
func openConn(t *testing.T, fake *dialpadtest.Server, wsID int64) *conn {
	t.Helper()
	c := quietConn(t, fake, wsID)
	t.Cleanup(func() { c.ws.Close() })
	waitConns(t, fake, 1)
	return c
}

// A pong deadline that passes while frames wait in the socket (the reader
// starved between two reads; simulated here by calling pongOverdue as the
// first frame is accepted) ends the connection only after every frame that
// reached its socket is read. With the deadline as a read deadline, the
// reads after it failed at once and the frames still in the socket were
// lost.
func TestPongDeadlineReadsFramesAlreadyArrived(t *testing.T) {
	c, sent := connWithFrames(t)
	var got [][]byte
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.read(time.Hour, acceptEach(func(c *conn, data []byte) {
			if len(got) == 0 {
				c.pongOverdue()
			}
			got = append(got, data)
		}))
	}()
	select {
	case <-done:
	case <-time.After(testWait):
		t.Fatal("the reader did not stop after the pong deadline")
	}
	if len(got) != len(sent) {
		t.Fatalf("read %d of the %d frames that had arrived", len(got), len(sent))
	}
	for i := range sent {
		if !bytes.Equal(got[i], sent[i]) {
			t.Fatalf("frame %d differs from the event sent", i)
		}
	}
	if why := closeReason(c.err); why != "no pong within the deadline" {
		t.Errorf("the connection ended with %q (%v), want the pong deadline", why, c.err)
	}
}

// A reader waiting on a silent connection is woken by the pong deadline.
func TestPongDeadlineEndsSilentConnection(t *testing.T) {
	fake := newFake(t, dialpadtest.Config{})
	wsID := fake.AddWebsocket("")
	c := openConn(t, fake, wsID)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.read(50*time.Millisecond, acceptEach(func(*conn, []byte) { t.Error("a frame on a silent connection") }))
	}()
	select {
	case <-done:
	case <-time.After(testWait):
		t.Fatal("the reader did not stop after the pong deadline")
	}
	if !isTimeout(c.err) {
		t.Errorf("the connection ended with %v, want the pong deadline", c.err)
	}
}

// connWithFrames opens a connection to a fake and has the fake send it
// more than the reader's 16 KiB buffer holds, so most of the frames wait
// in the socket until they are read. It returns the events sent.
func connWithFrames(t *testing.T) (*conn, [][]byte) {
	t.Helper()
	fake := newFake(t, dialpadtest.Config{})
	wsID := fake.AddWebsocket("")
	addSub(t, fake, "sms", wsID)
	c := openConn(t, fake, wsID)
	gen := dialpadtest.NewGenerator(11)
	var sent [][]byte
	for size := 0; size < 64<<10; {
		ev := gen.SMS()
		publish(t, fake, "sms", ev, 1)
		sent = append(sent, ev)
		size += len(ev)
	}
	return c, sent
}

// A reader blocked handing a frame to the queue (a spool waiting for disk
// space) past the pong deadline is not ended for it: the pongs are unread,
// not missing. Once the hand-over returns, the deadline starts again; with
// no pongs at all (nothing pings here) it ends the connection after every
// frame is read.
func TestPongDeadlineWaitsForBlockedReader(t *testing.T) {
	c, sent := connWithFrames(t)
	var got [][]byte
	lateWhileBlocked, excused := false, false
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.read(50*time.Millisecond, acceptEach(func(c *conn, data []byte) {
			if len(got) == 0 {
				// Blocked here until the deadline has passed meanwhile
				// (its timer sets pongExcused), or testWait.
				excused = excusedWithin(c, testWait)
				lateWhileBlocked = c.pongLate.Load()
			}
			got = append(got, data)
		}))
	}()
	select {
	case <-done:
	case <-time.After(2 * testWait):
		t.Fatal("the reader did not stop after the pong deadline")
	}
	if !excused {
		t.Fatalf("the pong deadline did not pass within %s while the reader was blocked in accept", testWait)
	}
	if lateWhileBlocked {
		t.Error("the pong deadline passed while the reader was blocked in accept counted against the connection")
	}
	if len(got) != len(sent) {
		t.Fatalf("read %d of the %d frames that had arrived", len(got), len(sent))
	}
	if why := closeReason(c.err); why != "no pong within the deadline" {
		t.Errorf("the connection ended with %q (%v), want the pong deadline", why, c.err)
	}
}

// excusedWithin waits, on the reader's goroutine, until the pong deadline's
// timer has found the reader handing a frame over (pongExcused), and
// reports whether it did within d. (waitUntil cannot run here: it may
// call t.Fatalf, which must not be called off the test's goroutine.)
func excusedWithin(c *conn, d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !c.pongExcused.Load() {
		select {
		case <-tick.C:
		case <-deadline.C:
			return false
		}
	}
	return true
}

// acceptEach is frames for a test that reads small frames only.
func acceptEach(accept func(c *conn, data []byte)) frames {
	return frames{max: 1 << 20, accept: accept, tooLarge: func(*conn, int64) { panic("a frame over 1 MiB in a test of small ones") }}
}

// TestLivenessOnMonotonicClock: the instants that the pong deadline, the
// check for an overdue pong and the decisions to close a connection
// compare (its open, last pong, last frame) keep the monotonic clock's
// reading, so that a step of the wall clock (an NTP correction) neither
// makes a live connection look silent nor keeps a silent one open. Kept as
// Unix nanoseconds, they lost it.
func TestLivenessOnMonotonicClock(t *testing.T) {
	fake := newFake(t, dialpadtest.Config{})
	wsID := fake.AddWebsocket("")
	addSub(t, fake, "sms", wsID)
	c := openConn(t, fake, wsID)
	monotonic := func(at time.Time) bool { return strings.Contains(at.String(), " m=") }
	if at := c.lastHeard(); !monotonic(at) {
		t.Errorf("last heard at the open = %s: no monotonic clock reading", at)
	}
	publish(t, fake, "sms", dialpadtest.NewGenerator(4).SMS(), 1)
	heard := make(chan time.Time, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.read(testWait, acceptEach(func(c *conn, data []byte) {
			select {
			case heard <- c.lastHeard(): // the frame, now
			default:
			}
			c.ws.Close() // one frame is enough: the read ends
		}))
	}()
	select {
	case at := <-heard:
		if !monotonic(at) {
			t.Errorf("last heard at a frame = %s: no monotonic clock reading", at)
		}
	case <-time.After(testWait):
		t.Fatal("no frame read")
	}
	select {
	case <-done:
	case <-time.After(testWait):
		t.Fatal("the reader did not end after its socket was closed")
	}
}
