package agent

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// openConn opens a connection to the fake's websocket wsID, as source.run
// does, without starting its reader.
func openConn(t *testing.T, fake *dialpadtest.Server, wsID int64) *conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	ws, err := newClient(t, fake, fake.APIKey()).Websocket(ctx, dialpad.ID(wsID))
	if err != nil {
		t.Fatalf("Websocket: %v", err)
	}
	c, err := dial(ctx, testConfig(), ws.URL)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	waitConns(t, fake, 1)
	return newConn(c, "test", time.Time{})
}

// A reader held up past the pong deadline (a stalled disk, a starved
// goroutine) still reads every frame that reached its socket before the
// connection ends. With the deadline as a read deadline, the reads after
// it failed at once and the frames still in the socket were lost.
func TestPongDeadlineReadsFramesAlreadyArrived(t *testing.T) {
	fake := newFake(t, dialpadtest.Config{})
	wsID := fake.AddWebsocket("")
	addSub(t, fake, "sms", wsID)
	c := openConn(t, fake, wsID)

	// More than the reader's 16 KiB buffer holds, so most of them wait in
	// the socket while the reader is held up.
	gen := dialpadtest.NewGenerator(11)
	var sent [][]byte
	for size := 0; size < 64<<10; {
		ev := gen.SMS()
		publish(t, fake, "sms", ev, 1)
		sent = append(sent, ev)
		size += len(ev)
	}

	var got [][]byte
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.read(50*time.Millisecond, func(c *conn, data []byte) {
			if len(got) == 0 {
				<-c.late // held up until the deadline has passed
			}
			got = append(got, data)
		})
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
		c.read(50*time.Millisecond, func(*conn, []byte) { t.Error("a frame on a silent connection") })
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
