package agent

import (
	"fmt"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// TestReceivedOncePerEventWithTwoRoutes: two routes for one type each get
// every event, but an event counts once as received (received= in the
// status line), while each delivery counts as delivered.
func TestReceivedOncePerEventWithTwoRoutes(t *testing.T) {
	fake := newFake(t, dialpadtest.Config{})
	wsID := fake.AddWebsocket("")
	addSub(t, fake, "sms", wsID)
	route := func(name string, recv *receiver) Route {
		return Route{Name: name, Types: []string{"sms"}, Queue: spool.NewMemory(spool.MemoryConfig{}),
			Forwarder: newForwarder(t, forward.Config{URL: recv.url, MaxAttempts: 1})}
	}
	a, b, other := newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil)
	cfg := testConfig()
	cfg.Routes = []Route{route("a", a), route("b", b)}
	r := startAgent(t, cfg, other.url, WebsocketSource(newClient(t, fake, fake.APIKey()), dialpad.ID(wsID)))
	waitConns(t, fake, 1)

	gen := dialpadtest.NewGenerator(5)
	const n = 3
	for range n {
		publish(t, fake, "sms", gen.SMS(), 1)
	}
	a.waitCount(t, n)
	b.waitCount(t, n)
	waitUntil(t, testWait, func() bool { return r.a.Stats().Delivered == 2*n },
		func() string { return fmt.Sprintf("stats %+v, want %d deliveries", r.a.Stats(), 2*n) })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := r.a.Stats(); st.Received != n || st.Delivered != 2*n {
		t.Errorf("stats %+v: want Received %d (one per event), Delivered %d (one per route)", st, n, 2*n)
	}
	if got := len(other.deliveries()); got != 0 {
		t.Errorf("the default handler got %d events that both routes take", got)
	}
}
