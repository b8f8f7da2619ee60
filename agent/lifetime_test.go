package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestRotatesAtMaxConnLifetimeBeforeLongTokenExpires: Dialpad ends every
// connection an hour after it opened (API.md §5); that its token's exp is
// an hour after issue too is only inferred. A token that lives longer
// must not keep a connection past MaxConnLifetime, where the server would
// close it with no replacement open: the agent rotates make-before-break
// at MaxConnLifetime, not at the token's exp.
func TestRotatesAtMaxConnLifetimeBeforeLongTokenExpires(t *testing.T) {
	fake := newFake(t, dialpadtest.Config{TokenTTL: 24 * time.Hour})
	wsID := fake.AddWebsocket("")
	addSub(t, fake, "call", wsID)
	recv := newReceiver(t, nil)
	client := newClient(t, fake, fake.APIKey())
	cfg := testConfig()
	cfg.MaxConnLifetime = 300 * time.Millisecond
	r := startAgent(t, cfg, recv.url, WebsocketSource(client, dialpad.ID(wsID)))
	waitHandshakes(t, fake, 3, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := len(r.logs.find(t, "INFO", "rotating before the token expires")); n < 2 {
		t.Errorf("%d planned rotations, want 2 or more\nlog:\n%s", n, r.logs)
	}
	if strings.Contains(r.logs.String(), "disconnected") {
		t.Errorf("a connection ended unplanned\nlog:\n%s", r.logs)
	}
}
