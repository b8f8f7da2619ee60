package agent

import (
	"context"
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestEndedConnectionLetsGoOfOlder: a connection that ends without having
// carried a frame (a quiet websocket, rotated at every token's expiry)
// must not keep the older connections it was to wait for. Each of those
// kept its own older one, so a quiet run kept every connection it ever
// opened, each with its 16 KiB read buffer: the agent's memory grew with
// every rotation, without end (about 20 KiB a rotation: some 35 MiB an
// hour with the emulator's 2 s tokens, about 0.5 MiB a day with Dialpad's
// hour).
func TestEndedConnectionLetsGoOfOlder(t *testing.T) {
	fake := newFake(t, dialpadtest.Config{})
	wsID := fake.AddWebsocket("")
	old := quietConn(t, fake, wsID)
	c := quietConn(t, fake, wsID)
	c.older = []*conn{old} // as source.run sets it for a rotation's new connection
	gone := weak.Make(old)

	// The old connection ends (its reader closes done), then the new
	// one, silent, ends at its pong deadline: neither carried a frame.
	old.ws.Close()
	old.read(time.Hour, acceptEach(func(*conn, []byte) { t.Error("a frame on a closed connection") }))
	old = nil
	c.read(50*time.Millisecond, acceptEach(func(*conn, []byte) { t.Error("a frame on a silent connection") }))
	if !isTimeout(c.err) {
		t.Fatalf("the connection ended with %v, want the pong deadline", c.err)
	}

	for range 3 {
		runtime.GC()
	}
	if gone.Value() != nil {
		t.Errorf("an ended connection still holds the older connection it waited for (%d of them): each connection of a quiet run stays in memory", len(c.older))
	}
	runtime.KeepAlive(c)
}

// quietConn opens a connection to the fake's websocket wsID as openConn
// does, but leaves closing it to its reader (read closes it): a cleanup
// holding the socket would hold the conn too, through its pong handler.
func quietConn(t *testing.T, fake *dialpadtest.Server, wsID int64) *conn {
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
	return newConn(c, "test", time.Time{})
}
