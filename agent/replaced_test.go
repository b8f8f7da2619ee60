package agent

import (
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestHandoverOldEndsAfterReplacementOpened: the previous connection of a
// rotation ends on its own (the network, the server) after its
// replacement opened and took over, while the handover waits for the new
// one's first frame. A connection was open all along: no window is logged
// as missed, nor counted (a gap of 0s was, at the replacement's open).
func TestHandoverOldEndsAfterReplacementOpened(t *testing.T) {
	drop := make(chan struct{})
	ws := newRawServer(t, func(n int, c *websocket.Conn) {
		if n == 1 {
			<-drop
			c.NetConn().Close() // ends without a close frame
			return
		}
		readUntilClosed(c)
	})
	cfg := testConfig()
	cfg.MaxConnLifetime = 300 * time.Millisecond // the opaque token has no exp: rotate on this
	cfg.HandoverWait = time.Minute               // the new connection carries no frame: the handover lasts
	recv := newReceiver(t, nil)
	r := startAgent(t, cfg, recv.url, ws.source())
	r.logs.waitFind(t, 2, "INFO", "connected")
	close(drop)
	r.logs.waitFind(t, 1, "DEBUG", "previous connection closed")
	if gaps := r.logs.find(t, "WARN", "events sent by Dialpad in this window were missed (no open connection)"); len(gaps) != 0 {
		t.Fatalf("a gap was logged although the replacement was open: %v", gaps)
	}
	if n, _ := r.a.stats.gaps.totals(time.Now()); n != 0 {
		t.Fatalf("%d gaps counted, want none", n)
	}
}
