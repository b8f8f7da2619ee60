package agent

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
	"github.com/gorilla/websocket"
)

// endlessSender is a server whose first connection answers neither pings
// nor our close, and sends an event every 5ms until done is closed: a
// slow link's backlog that never ends. Later connections send nothing.
func endlessSender(t *testing.T, done <-chan struct{}) string {
	return burstSender(t, done, 1, 5*time.Millisecond)
}

// burstSender is endlessSender sending burst events back to back every
// interval.
func burstSender(t *testing.T, done <-chan struct{}, burst int, every time.Duration) string {
	return newRawServer(t, func(n int, c *websocket.Conn) {
		if n > 1 {
			readUntilClosed(c)
			return
		}
		// Its pongs (and its close reply) would come only after a backlog
		// that never ends: it answers neither, and keeps sending.
		c.SetPingHandler(func(string) error { return nil })
		c.SetCloseHandler(func(int, string) error { return nil })
		go func() {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for seq := 0; ; {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			for range burst {
				ev := fmt.Sprintf(`{"call_id":%d,"state":"calling","seq":%d}`, seq, seq)
				if err := c.WriteMessage(websocket.TextMessage, []byte(ev)); err != nil {
					return
				}
				seq++
			}
		}
	}).url
}

// A connection replaced while its pongs were late, because they queued
// behind its frames on a slow link, is alive: it goes on sending its
// backlog while it is closed. When the agent (or the server) ends it
// before the server's close reply, what the server still held for it is
// lost, events sent before the replacement opened among them: that is
// warned of and counted in dropped_unread. It was let go of without a
// word (a review over a 50 kbit/s link saw events sent on such
// connections lost, with no gap and no warning).
func TestClosingConnectionCutShortWarns(t *testing.T) {
	done := make(chan struct{}) // closed as the test ends
	wsURL := endlessSender(t, done)
	t.Cleanup(func() { close(done) }) // before the server's Close
	cutShortRun(t, newReceiver(t, nil), testConfig(), wsURL, false)
}

// TestClosingConnectionPacedByQueueCutShort: the same, with a reader
// paced by a full queue (one event at a time, 3ms each at the handler), so
// that every hand-over holds it up a few milliseconds. Those hand-overs
// kept the retired connection open for as long as its server sent: the
// agent never ended it, and never warned (a loaded CI machine made such
// hand-overs of the test above). A closing connection is now kept for its
// hand-overs for a pong deadline at most from our close. Its tokens expire
// soon, so the connection is replaced by a rotation: a paced reader's
// pongs are excused, not overdue.
//
// Its server sends two events back to back every 20ms, and the queue takes
// one at a time: the second's hand-over waits for the first's delivery (a
// millisecond or more), and then the reader is free until the next pair.
// (A reader held up all the time, by a handler slower than the server, is
// kept on purpose: closing it would drop what the socket holds.)
func TestClosingConnectionPacedByQueueCutShort(t *testing.T) {
	done := make(chan struct{}) // closed as the test ends
	wsURL := burstSender(t, done, 2, 20*time.Millisecond)
	t.Cleanup(func() { close(done) }) // before the server's Close
	recv := newReceiver(t, func(delivery) bool { time.Sleep(time.Millisecond); return true })
	cfg := testConfig()
	cfg.Concurrency = 1
	cfg.Queue = spool.NewMemory(spool.MemoryConfig{MaxBytes: 1}) // one event at a time
	cutShortRun(t, recv, cfg, wsURL, true)
}

// cutShortRun runs the agent with cfg against wsURL (endlessSender's or burstSender's), delivering
// to recv, and checks that the replaced connection ends with the
// cut-short warning, counted in DroppedUnread. With rotate, each token
// expires 1.2 s after its fetch (rotated about 0.3 s before); else the
// first connection is replaced for its overdue pongs.
func cutShortRun(t *testing.T, recv *receiver, cfg Config, wsURL string, rotate bool) {
	cfg.PingInterval = 20 * time.Millisecond
	// The replacement opens at half the pong deadline and must be up
	// before the deadline ends the old connection as dead (no close, no
	// warning): with 300ms, a loaded machine (GOMAXPROCS=1) took 146ms to
	// connect it, and the old connection's deadline came first.
	cfg.PongWait = time.Second
	cfg.HandoverWait = 50 * time.Millisecond
	// The warning needs a frame read within the close wait before the
	// end: with 50ms, a sender held up 90ms by a loaded machine hid it.
	cfg.CloseWait = 500 * time.Millisecond
	src := Source{Name: "slow", Fetch: func(ctx context.Context) (string, error) {
		if !rotate {
			return wsURL, nil
		}
		claims := fmt.Sprintf(`{"exp":%.3f}`, float64(time.Now().Add(1200*time.Millisecond).UnixMilli())/1000)
		tok, err := signing.SignHS256([]byte(claims), "k")
		return strings.TrimSuffix(wsURL, "opaque-token") + tok, err
	}}
	r := startAgent(t, cfg, recv.url, src)
	if !rotate {
		r.logs.waitFind(t, 1, "WARN", "no pong for a while; opening a replacement connection")
	}
	cut := r.logs.waitFind(t, 1, "WARN", cutShortMsg)
	if cut[0].str("conn") != "slow #1" {
		t.Errorf("warning names %q, want the replaced connection slow #1", cut[0].str("conn"))
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := r.a.Stats(); st.DroppedUnread != 1 {
		t.Errorf("DroppedUnread = %d, want 1; log:\n%s", st.DroppedUnread, r.logs)
	}
}
