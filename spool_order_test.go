package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// orderKeyOf is the ordering key of the README's table, read from an event.
func orderKeyOf(typ string, body []byte) string {
	path := map[string][]string{"call": {"call_id"}, "sms": {"id"}, "agent_status": {"target", "id"}, "contact": {"contact", "id"}}[typ]
	if path == nil {
		return typ
	}
	v := json.RawMessage(body)
	for _, field := range path {
		var m map[string]json.RawMessage
		if json.Unmarshal(v, &m) != nil {
			return typ + ":?"
		}
		v = m[field]
	}
	return typ + ":" + strconv.Quote(string(v))
}

// gate is a handler that can be down (503 for everything) and can hold one
// key stuck (503 for that key only), and records its 2xx answers in order.
type gate struct {
	*httptest.Server
	mu        sync.Mutex
	down      bool
	stuckKey  string
	stuck     bool
	refused   int // 503 answers
	refusedSK int // of which for the stuck key
	delivered []gateDelivery
	changed   chan struct{}
}

type gateDelivery struct {
	key  string
	body string
}

func newGate(t *testing.T, stuckKey string) *gate {
	g := &gate{down: true, stuck: true, stuckKey: stuckKey, changed: make(chan struct{}, 1)}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("gate: read body: %v", err)
			return
		}
		key := orderKeyOf(r.Header.Get("X-Dialpad-Tunnel-Event-Type"), body)
		g.mu.Lock()
		status := http.StatusOK
		if g.down || g.stuck && key == g.stuckKey {
			status = http.StatusServiceUnavailable
			g.refused++
			if key == g.stuckKey {
				g.refusedSK++
			}
		} else {
			g.delivered = append(g.delivered, gateDelivery{key: key, body: string(body)})
		}
		g.mu.Unlock()
		w.WriteHeader(status)
		select {
		case g.changed <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(g.Close)
	return g
}

// waitUntil blocks until cond (called under g.mu) holds.
func (g *gate) waitUntil(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.After(within)
	for {
		g.mu.Lock()
		ok := cond()
		g.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-g.changed:
		case <-deadline:
			g.mu.Lock()
			defer g.mu.Unlock()
			t.Fatalf("not within %s: %s (refused %d, of them the stuck key %d; delivered %d)", within, what, g.refused, g.refusedSK, len(g.delivered))
		}
	}
}

// TestSpoolHandlerDownThenStuckKey: the handler is down while a load of
// events arrives, then comes back, except for one call whose events it
// keeps refusing. Every other event is delivered while that call is stuck
// (no head-of-line blocking); once it is released, its events follow. Every
// event arrives once, and each key's events in the order they were sent.
func TestSpoolHandlerDownThenStuckKey(t *testing.T) {
	gen := dialpadtest.NewGenerator(77)
	stuckCall := gen.CallLifecycle()
	stuckKey := orderKeyOf("call", stuckCall[0])
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	g := newGate(t, stuckKey)
	r := start(t, listenArgs(srv, wsID, g.URL, "--spool", filepath.Join(t.TempDir(), "events.spool"), "--log-format", "json",
		"--concurrency", "4", "--retry-wait-min", "5ms", "--retry-wait-max", "50ms")...)
	r.waitConnected(t, srv, 1)

	const total = 600
	var want []gateDelivery // in publish order
	perKey := map[string]int{}
	for i := 0; len(want) < total; i++ {
		typ, ev := gen.Next()
		if i%40 == 0 && len(stuckCall) > 0 { // the stuck call's events, spread through the load
			typ, ev, stuckCall = "call", stuckCall[0], stuckCall[1:]
		}
		key := orderKeyOf(typ, ev)
		if srv.Publish(typ, ev).Frames != 1 {
			t.Fatalf("event %d not written to the agent's connection", i)
		}
		want = append(want, gateDelivery{key: key, body: string(ev)})
		perKey[key]++
	}
	others := total - perKey[stuckKey]

	g.waitUntil(t, "the handler refused 200 attempts while down", 30*time.Second, func() bool { return g.refused >= 200 })
	g.mu.Lock()
	if len(g.delivered) != 0 {
		t.Fatalf("%d events delivered while the handler was down", len(g.delivered))
	}
	g.down = false
	refusedAtRecovery := g.refusedSK
	g.mu.Unlock()

	g.waitUntil(t, fmt.Sprintf("the %d events of other keys were delivered while %s was stuck", others, stuckKey), 60*time.Second,
		func() bool { return len(g.delivered) >= others && g.refusedSK > refusedAtRecovery })
	g.mu.Lock()
	for _, d := range g.delivered {
		if d.key == stuckKey {
			t.Fatalf("an event of the stuck key %s was delivered while the handler refused it", stuckKey)
		}
	}
	if len(g.delivered) != others {
		t.Fatalf("%d deliveries for %d events of other keys: duplicates", len(g.delivered), others)
	}
	g.stuck = false
	g.mu.Unlock()

	g.waitUntil(t, "every event was delivered", 30*time.Second, func() bool { return len(g.delivered) >= total })
	if err := r.stop(t); err != nil {
		t.Fatalf("listen: %v", err)
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.delivered) != total {
		t.Fatalf("%d deliveries for %d events", len(g.delivered), total)
	}
	wantByKey, gotByKey := map[string][]string{}, map[string][]string{}
	for _, d := range want {
		wantByKey[d.key] = append(wantByKey[d.key], d.body)
	}
	for _, d := range g.delivered {
		gotByKey[d.key] = append(gotByKey[d.key], d.body)
	}
	for key, bodies := range wantByKey {
		got := gotByKey[key]
		for i := range bodies {
			if i >= len(got) || got[i] != bodies[i] {
				t.Fatalf("key %s: delivery %d is not the %d-th event sent with that key (got %d of %d): order broken", key, i+1, i+1, len(got), len(bodies))
			}
		}
	}
	t.Logf("%d events over %d keys; %d refused while down or stuck (%d for the stuck key %s, %d of them after the handler recovered)",
		total, len(wantByKey), g.refused, g.refusedSK, stuckKey, g.refusedSK-refusedAtRecovery)
}
