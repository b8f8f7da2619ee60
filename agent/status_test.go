package agent

import (
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestStatusLineCountsFilteredEvents: a user whose --events leaves out
// what Dialpad sends sees connected and nothing else; the status line
// says that events came and were filtered out, as the stopped line does.
// It had no filtered= at all, so a minute of status lines read as "no
// event arrived".
func TestStatusLineCountsFilteredEvents(t *testing.T) {
	fake := newFake(t, dialpadtest.Config{})
	wsID := fake.AddWebsocket("")
	addSub(t, fake, "call", wsID)
	addSub(t, fake, "sms", wsID)
	recv := newReceiver(t, nil)
	client := newClient(t, fake, fake.APIKey())
	cfg := testConfig()
	cfg.Events = []string{"call"}
	cfg.StatusInterval = 20 * time.Millisecond
	r := startAgent(t, cfg, recv.url, WebsocketSource(client, dialpad.ID(wsID)))
	waitConns(t, fake, 1)
	publish(t, fake, "sms", []byte(`{"message_id":1,"message_status":"pending","direction":"inbound","from_number":"+15550000001"}`), 1)
	publish(t, fake, "call", []byte(`{"call_id":1,"state":"hangup"}`), 1)
	recv.waitCount(t, 1)
	waitUntil(t, testWait, func() bool {
		for _, l := range r.logs.find(t, "INFO", "status") {
			if l["filtered"] == float64(1) {
				return true
			}
		}
		return false
	}, func() string { return "no status line with filtered=1:\n" + r.logs.String() })
	for _, l := range r.logs.find(t, "INFO", "status") {
		if _, ok := l["refused_signatures"]; ok {
			t.Fatalf("status line has refused_signatures with none refused: %v", l)
		}
	}
}

// TestStatusLineCountsUnqueuedAsLost: an event the queue refuses while
// listen runs (a spool that stopped: its disk is full, say) is lost, and
// the stopped line counts it in lost=; so does the status line, which
// counted only frames larger than MaxFrameBytes there.
func TestStatusLineCountsUnqueuedAsLost(t *testing.T) {
	h, _ := unavailable(t)
	fake := newFake(t, dialpadtest.Config{})
	wsID := fake.AddWebsocket("")
	addSub(t, fake, "sms", wsID)
	cfg := testConfig()
	cfg.Queue = stoppedDisk(t)
	cfg.StatusInterval = 20 * time.Millisecond
	r := startAgent(t, cfg, h.URL, WebsocketSource(newClient(t, fake, fake.APIKey()), dialpad.ID(wsID)))
	waitConns(t, fake, 1)
	publish(t, fake, "sms", dialpadtest.NewGenerator(43).SMS(), 1)
	waitUntil(t, testWait, func() bool {
		for _, l := range append(r.logs.find(t, "INFO", "status"), r.logs.find(t, "WARN", "status")...) {
			if l["lost"] == float64(1) {
				return true
			}
		}
		return false
	}, func() string { return "no status line with lost=1:\n" + r.logs.String() })
}
