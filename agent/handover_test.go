package agent

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
	"github.com/gorilla/websocket"
)

// TestHandoverNewConnectionLost: when the new connection of a rotation
// dies before it carries a frame, the previous one, still reading, stays
// the active connection: no gap, and its events are delivered.
func TestHandoverNewConnectionLost(t *testing.T) {
	send := make(chan struct{})
	ws := newRawServer(t, func(n int, c *websocket.Conn) {
		switch n {
		case 1:
			<-send
			c.WriteMessage(websocket.TextMessage, []byte(sampleCall))
			readUntilClosed(c)
		case 2:
			c.NetConn().Close() // dies at once, without a close frame
		default:
			readUntilClosed(c)
		}
	})
	// Tokens that expire 400ms after each fetch: the agent rotates ~100ms
	// before that.
	src := Source{Name: "short tokens", Fetch: func(context.Context) (string, error) {
		claims := fmt.Sprintf(`{"exp":%.3f}`, float64(time.Now().Add(400*time.Millisecond).UnixMilli())/1000)
		tok, err := signing.SignHS256([]byte(claims), "k")
		return strings.TrimSuffix(ws.url, "opaque-token") + tok, err
	}}
	recv := newReceiver(t, nil)
	cfg := testConfig()
	cfg.BackoffMin = time.Second // keep the previous connection alone for a while
	cfg.BackoffMax = time.Second
	r := startAgent(t, cfg, recv.url, src)
	r.logs.waitFind(t, 1, "WARN", "new connection lost during the handover; keeping the previous one")
	close(send)
	waitUntil(t, testWait, func() bool { return len(recv.deliveries()) == 1 },
		func() string {
			return fmt.Sprintf("%d deliveries, want the event sent on the kept connection", len(recv.deliveries()))
		})
	if gaps := r.logs.find(t, "WARN", "events sent by Dialpad in this window were missed (no open connection)"); len(gaps) != 0 {
		t.Fatalf("a gap was logged although the previous connection stayed open: %v", gaps)
	}
}
