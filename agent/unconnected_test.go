package agent

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestUnconnectedFollowsActiveConnection: Stats.Unconnected (what
// /healthz and status answer by) counts a source without an active
// connection: 1 before the first one, 0 across rotations, 1 again in a
// gap. It counted any open connection, so an older one still closing
// made a source in a gap look connected.
func TestUnconnectedFollowsActiveConnection(t *testing.T) {
	fake, _, r := smsAgent(t, dialpadtest.Config{TokenTTL: 800 * time.Millisecond})
	waitConnected(t, r)
	waitUntil(t, testWait, func() bool { return r.a.Stats().Unconnected == 0 },
		func() string { return fmt.Sprintf("Unconnected = %d once connected", r.a.Stats().Unconnected) })
	// Rotations (make before break) leave no source unconnected.
	for hs := fake.Handshakes(); fake.Handshakes() < hs+2; {
		if n := r.a.Stats().Unconnected; n != 0 {
			t.Fatalf("Unconnected = %d during rotations", n)
		}
		<-time.After(5 * time.Millisecond) // samples the count while rotations happen
	}
	fake.FailNextREST(1000, http.StatusInternalServerError, 0)
	fake.DropConnections(1001, "going away")
	waitUntil(t, testWait, func() bool { return r.a.Stats().Unconnected == 1 },
		func() string { return fmt.Sprintf("Unconnected = %d in a gap", r.a.Stats().Unconnected) })
}
