package agent

import (
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// TestShutdownHandsOutNoQueuedEventWhileClosing: with the durable spool,
// once the agent is stopping no queued event starts its first attempt, so
// a worker freed while the connections close (up to CloseWait, longer
// while Dialpad still sends) takes no more events from the spool. Before,
// it took every queued event of a free key, read it back from disk and
// gave it back at once, each with a "delivery interrupted by shutdown"
// warning for a delivery that never began: a backlog of distinct keys
// spun through whole, a warning per event.
func TestShutdownHandsOutNoQueuedEventWhileClosing(t *testing.T) {
	const n = 50
	hold := make(chan struct{})
	ws := newRawServer(t, func(_ int, c *websocket.Conn) {
		c.SetCloseHandler(func(int, string) error { return nil }) // no echo: the close takes CloseWait
		for i := range n {
			if err := c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"id":%d,"message_status":"sent"}`, 9000+i)); err != nil {
				return
			}
		}
		readUntilClosed(c)
		<-hold
	})
	t.Cleanup(func() { close(hold) })
	release := make(chan struct{})
	recv := newReceiver(t, func(delivery) bool {
		<-release
		return true
	})
	disk, stopDisk := runDisk(t)
	cfg := testConfig()
	cfg.Concurrency = 1
	cfg.CloseWait = time.Second
	cfg.Queue = disk
	r := startAgent(t, cfg, recv.url, ws.source())
	waitUntil(t, testWait, func() bool { return r.a.Stats().Received == n && recv.inHandler() == 1 },
		func() string {
			return fmt.Sprintf("%d received, %d in the handler; want %d and 1", r.a.Stats().Received, recv.inHandler(), n)
		})
	r.cancel()
	waitUntil(t, testWait, func() bool {
		return len(r.logs.find(t, "INFO", "stopping: reading no more events; deliveries in flight may finish, no retry starts")) == 1
	}, func() string { return "no stopping line" })
	close(release) // the delivery in flight ends while the connection still closes
	if err := r.wait(t, testWait); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
	posted := len(recv.deliveries())
	if lines := r.logs.find(t, "WARN", "delivery interrupted by shutdown; kept in the spool for the next start"); len(lines) != 0 {
		t.Errorf("%d interrupted-delivery lines for events that were never in flight, want none", len(lines))
	}
	if err := stopDisk(); err != nil {
		t.Fatalf("spool Run: %v", err)
	}
	recs, err := spool.List(disk.Path(), spool.Pending)
	if err != nil {
		t.Fatal(err)
	}
	if posted+len(recs) != n {
		t.Errorf("%d POSTed and %d pending after the stop, want %d in all", posted, len(recs), n)
	}
}
