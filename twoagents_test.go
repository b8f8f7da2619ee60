package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/agent"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
)

// TestTwoAgentsShareEventIDs: two listens on one websocket (high
// availability: Dialpad sends each event to every connection) each
// deliver every event, with delivery ids of their own and the same
// X-Dialpad-Tunnel-Event-Id, so the handler can drop the second copy; for
// a JWT whose iat Dialpad mints per connection too, whose bytes differ.
// While one is stopped and started again, the other delivers what it
// missed: every event reaches the handler. The delivery id alone was
// drawn by each agent, and the copies could not be told to be one event.
func TestTwoAgentsShareEventIDs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret string
	}{{"json", ""}, {"jwt with iat per connection", "s3cret"}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, wsID := fakeDialpad(t, dialpadtest.Config{JWTIssuedAt: tc.secret != ""}, tc.secret)
			h := newHook(t, nil)
			a, _, startAgent, spools := twoAgents(t, srv, wsID, h.URL)

			gen := dialpadtest.NewGenerator(17)
			var jsonIDs []string // of the JSON events published, as agent.EventID gives them
			publish := func(n, conns int) {
				t.Helper()
				for range n {
					typ, ev := gen.Next()
					if d := srv.Publish(typ, ev); d.Frames != conns {
						t.Fatalf("event written to %d connections, want %d", d.Frames, conns)
					}
					if tc.secret == "" {
						jsonIDs = append(jsonIDs, agent.EventID(ev, false))
					}
				}
			}
			publish(10, 2)
			h.waitRequests(t, 20, 20*time.Second)

			// One agent stops (an upgrade, a host lost): the other carries on.
			if err := a.stop(t); err != nil {
				t.Fatalf("stop: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := srv.WaitConnectionsAtMost(ctx, 1); err != nil {
				t.Fatal(err)
			}
			publish(10, 1)
			a = startAgent(0)
			a.waitConnected(t, srv, 2)
			publish(10, 2)
			got := h.waitRequests(t, 20+10+20, 20*time.Second)

			copies := map[string][]received{}
			for _, r := range got {
				id := r.header.Get(forward.DefaultEventIDHeader)
				if id == "" {
					t.Fatalf("a POST without %s: %v", forward.DefaultEventIDHeader, r.header)
				}
				copies[id] = append(copies[id], r)
			}
			if len(copies) != 30 {
				t.Fatalf("%d distinct event ids in %d POSTs, want the 30 events published", len(copies), len(got))
			}
			for _, id := range jsonIDs {
				if copies[id] == nil {
					t.Errorf("no POST with event id %s, agent.EventID of a published event", id)
				}
			}
			two := 0
			for id, rs := range copies {
				if len(rs) == 2 {
					two++
					if rs[0].header.Get(forward.DefaultIDHeader) == rs[1].header.Get(forward.DefaultIDHeader) {
						t.Errorf("event %s: both agents sent delivery id %s; each draws its own", id, rs[0].header.Get(forward.DefaultIDHeader))
					}
					if tc.secret != "" && string(rs[0].body) == string(rs[1].body) {
						t.Errorf("event %s: both copies have the same bytes; the test wants JWTs minted per connection", id)
					}
				}
			}
			// events show gives the header as it is sent.
			var some received
			for _, rs := range copies {
				some = rs[0]
				break
			}
			shown := false
			for _, path := range spools {
				if out, err := runCLI(t, "events", "show", some.header.Get(forward.DefaultIDHeader), "--spool", path); err == nil {
					mustContain(t, out, some.header.Get(forward.DefaultEventIDHeader))
					shown = true
				}
			}
			if !shown {
				t.Errorf("events show found delivery %s in neither spool", some.header.Get(forward.DefaultIDHeader))
			}
			if two != 20 {
				t.Errorf("%d events came twice, want the 20 published while both agents were connected (copies: %v)", two, fmt.Sprint(len(got)))
			}
		})
	}
}

// twoAgents starts two listens on websocket wsID of srv, forwarding to
// url, each with a spool of its own (spools), and returns once both are
// connected: a and b; again(i) starts agent i (0 or 1) again.
func twoAgents(t *testing.T, srv *dialpadtest.Server, wsID int64, url string) (a, b *run, again func(i int) *run, spools []string) {
	t.Helper()
	spools = []string{filepath.Join(t.TempDir(), "a.spool"), filepath.Join(t.TempDir(), "b.spool")}
	again = func(i int) *run { return start(t, listenArgs(srv, wsID, url, "--spool", spools[i])...) }
	a = again(0)
	a.waitConnected(t, srv, 1)
	b = again(1)
	b.waitConnected(t, srv, 2)
	return a, b, again, spools
}
