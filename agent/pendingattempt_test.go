package agent

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A connection whose pong is overdue gets a replacement attempt at once;
// on a dead network that attempt's REST call hangs for its timeout. When
// the pong deadline then ends the connection, the line says an attempt is
// under way, not "reconnecting after backoff" with a retry_in of half a
// second that never came: the attempt in flight held the next one off for
// up to the HTTP timeout (15 s) and its retries (seen over a 20 s
// blackhole between listen and the emulator).
func TestLostWhileAttemptPendingSaysSo(t *testing.T) {
	recv := newReceiver(t, nil)
	var (
		freeze  = make(chan struct{}) // closed: the first connection goes silent, as behind a blackhole
		done    = make(chan struct{}) // closed as the test ends
		release = make(chan struct{}) // closed: the hung refresh answers
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
	var fetches sync.Mutex
	fetched := 0
	src := Source{Name: "blackholed", Fetch: func(ctx context.Context) (string, error) {
		fetches.Lock()
		fetched++
		first := fetched == 1
		fetches.Unlock()
		if !first {
			select { // the REST call lost on the dead network
			case <-release:
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		return wsURL, nil
	}}
	r := startAgent(t, cfg, recv.url, src)
	r.logs.waitFind(t, 1, "INFO", "connected")
	close(freeze)
	r.logs.waitFind(t, 1, "WARN", "no pong for a while; opening a replacement connection")
	lost := r.logs.waitFind(t, 1, "WARN", "disconnected; a connection attempt is already under way")
	if lost[0].str("reason") != "no pong within the deadline" || lost[0].str("attempt_since") == "" {
		t.Errorf("line = %v, want reason and attempt_since", lost[0])
	}
	if backoff := r.logs.find(t, "WARN", "disconnected; reconnecting after backoff"); len(backoff) != 0 {
		t.Errorf("promised a retry while an attempt was under way: %v", backoff)
	}
	close(release)
	r.logs.waitFind(t, 2, "INFO", "connected")
	r.logs.waitFind(t, 1, "WARN", "events sent by Dialpad in this window were missed (no open connection)")
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
