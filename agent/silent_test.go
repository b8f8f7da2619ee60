package agent

import (
	"context"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A connection that stops answering altogether (no pong, no frame, no
// answer to its close: a half-open connection) is replaced once its pong
// is overdue, and what Dialpad sent on it from its last sign of life until
// the replacement opened reached no one: that window is logged and counted
// as a gap. (It was logged only at debug level, "previous connection
// closed", where the same window with no replacement in time is a gap.)
// One that stops answering pings but answers its close is alive, and no
// such window is logged (TestReconnectsWhenPongsStop).
func TestSilentConnectionReplacedLogsGap(t *testing.T) {
	recv := newReceiver(t, nil)
	var (
		freeze = make(chan struct{}) // closed: the first connection goes silent
		done   = make(chan struct{}) // closed as the test ends
	)
	wsURL := newRawServer(t, func(n int, c *websocket.Conn) {
		if n == 1 {
			silentOnFreeze(c, freeze, done)
			return
		}
		readUntilClosed(c)
	}).url
	t.Cleanup(func() { close(done) }) // before the server's Close
	cfg := testConfig()
	cfg.PingInterval = 20 * time.Millisecond
	cfg.PongWait = 300 * time.Millisecond
	cfg.HandoverWait = 50 * time.Millisecond
	cfg.CloseWait = 50 * time.Millisecond
	src := Source{Name: "silent", Fetch: func(ctx context.Context) (string, error) { return wsURL, nil }}
	r := startAgent(t, cfg, recv.url, src)
	r.logs.waitFind(t, 1, "INFO", "connected")
	close(freeze)
	r.logs.waitFind(t, 1, "WARN", "no pong for a while; opening a replacement connection")
	gaps := r.logs.waitFind(t, 1, "WARN", "events sent by Dialpad in this window may have been missed (the connection stopped answering before its replacement opened)")
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if gap, err := time.ParseDuration(gaps[0]["gap"].(string)); err != nil || gap < cfg.PongWait/2 {
		t.Errorf("gap %v (%v), want at least half the pong deadline (%s): from the last pong to the replacement; log:\n%s", gaps[0]["gap"], err, cfg.PongWait/2, r.logs)
	}
}

// silentOnFreeze reads c (and so answers its pings) until freeze is
// closed, then neither reads nor writes nor closes until done is: the
// socket is taken from under the reader without a close frame, as a peer
// that is gone (behind a blackhole). It returns at once if c ends first.
func silentOnFreeze(c *websocket.Conn, freeze, done <-chan struct{}) {
	read := make(chan struct{})
	go func() {
		defer close(read)
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	select {
	case <-read:
	case <-freeze:
		c.UnderlyingConn().(interface{ CloseRead() error }).CloseRead()
		<-done // a hijacked connection outlives the server's Close
	}
}
