package agent

import (
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestUnrecognisedEventFilteredWarns: on a websocket-level connection an
// event's type is guessed from its fields, which Dialpad does not
// document. With Events set, an event that matches no type is filtered
// out; that loss is warned of once (it was only a debug line), and later
// ones are counted, not warned of again.
func TestUnrecognisedEventFilteredWarns(t *testing.T) {
	fake := newFake(t, dialpadtest.Config{})
	wsID := fake.AddWebsocket("")
	addSub(t, fake, "call", wsID)
	addSub(t, fake, "changelog", wsID)
	recv := newReceiver(t, nil)
	client := newClient(t, fake, fake.APIKey())
	cfg := testConfig()
	cfg.Events = []string{"call"}
	r := startAgent(t, cfg, recv.url, WebsocketSource(client, dialpad.ID(wsID)))
	waitConns(t, fake, 1)
	// A change log event with neither changed_by nor target matches no
	// type; so would a call event without call_id.
	unknown := []byte(`{"action":"updated_ivr","changed_by":null,"date":1,"note":"x"}`)
	publish(t, fake, "changelog", unknown, 1)
	publish(t, fake, "changelog", unknown, 1)
	publish(t, fake, "call", []byte(`{"call_id":1,"state":"hangup"}`), 1)
	recv.waitCount(t, 1)
	waitUntil(t, testWait, func() bool { return r.a.Stats().Filtered == 2 },
		func() string { return "filtered events not counted" })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := len(r.logs.find(t, "WARN", unknownFilteredMsg)); n != 1 {
		t.Errorf("%d warnings for the unrecognised events filtered out, want 1\nlog:\n%s", n, r.logs)
	}
}
