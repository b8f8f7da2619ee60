package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
)

// fakeDialpad starts the fake with one websocket subscribed to every event
// type and returns it with the websocket id.
func fakeDialpad(t *testing.T, cfg dialpadtest.Config, secret string) (*dialpadtest.Server, int64) {
	t.Helper()
	srv, err := dialpadtest.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	id, err := srv.AddWebsocketForAll(secret)
	if err != nil {
		t.Fatal(err)
	}
	return srv, id
}

// listenArgs is a listen command line; forwardTo "" gives no --forward-to
// (routes only).
func listenArgs(srv *dialpadtest.Server, wsID int64, forwardTo string, extra ...string) []string {
	args := []string{"listen", "--api-base", srv.URL(), "--api-key", srv.APIKey(), "--websocket-id", strconv.FormatInt(wsID, 10)}
	if forwardTo != "" {
		args = append(args, "--forward-to", forwardTo)
	}
	return append(args, extra...)
}

// waitConnected returns once the fake holds n connections, and fails the
// test if the run exits first.
func (r *run) waitConnected(t *testing.T, srv *dialpadtest.Server, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	connected := make(chan error, 1)
	go func() { connected <- srv.WaitConnections(ctx, n) }()
	select {
	case err := <-connected:
		if err != nil {
			t.Fatalf("agent did not connect: %v\n%s", err, r.stdout.String())
		}
	case err := <-r.done:
		cancel()
		<-connected
		close(r.done)
		t.Fatalf("dialpad-tunnel exited before connecting: %v\n%s", err, r.stdout.String())
	}
}

// TestListenDeliversEveryEventAcrossRotations publishes events continuously
// while the fake's short token lifetime forces a rotation every few hundred
// milliseconds. Every event published while a connection was open must
// reach the handler once, byte for byte, with the right Content-Type.
func TestListenDeliversEveryEventAcrossRotations(t *testing.T) {
	for _, tc := range []struct {
		name, secret, contentType string
		extra                     []string
	}{
		{"json", "", "application/json", nil},
		{"jwt", "s3cret-for-test", "application/jwt", nil},
		// rotating only 1ms ahead lets the server close most connections
		// at the token's end: the reconnect-on-close path.
		{"json server closes", "", "application/json", []string{"--rotate-before", "1ms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, wsID := fakeDialpad(t, dialpadtest.Config{TokenTTL: 400 * time.Millisecond}, tc.secret)
			h := newHook(t, nil)
			r := start(t, listenArgs(srv, wsID, h.URL, append([]string{"--log-format", "json"}, tc.extra...)...)...)
			r.waitConnected(t, srv, 1)

			gen := dialpadtest.NewGenerator(42)
			want := map[[32]byte]bool{}
			unsent := 0
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); <-tick.C {
				typ, ev := gen.Next()
				wire := ev
				if tc.secret != "" {
					jwt, err := signing.SignHS256(ev, tc.secret)
					if err != nil {
						t.Fatal(err)
					}
					wire = []byte(jwt)
				}
				if srv.Publish(typ, ev).Frames > 0 {
					want[digest(wire)] = true
				} else {
					unsent++
				}
			}
			got := h.waitRequests(t, len(want), 20*time.Second)
			if err := r.stop(t); err != nil {
				t.Fatalf("listen: %v", err)
			}
			got = h.waitRequests(t, 0, 0)
			if len(got) != len(want) {
				t.Errorf("handler got %d POSTs for %d events: duplicates delivered", len(got), len(want))
			}
			for i, req := range got {
				if !want[digest(req.body)] {
					t.Fatalf("POST %d body is not byte-identical to any published event: %.80q", i, req.body)
				}
				if ct := req.header.Get("Content-Type"); ct != tc.contentType {
					t.Fatalf("POST %d Content-Type = %q, want %q", i, ct, tc.contentType)
				}
			}
			if hs := srv.Handshakes(); hs < 5 {
				t.Errorf("only %d connections in 2.5s with a 400ms token: rotation did not happen", hs)
			}
			t.Logf("%d events over %d connections, %d published with no connection open", len(want), srv.Handshakes(), unsent)
		})
	}
}

// TestListenRetries checks what the handler sees and what the user is told
// for a handler that fails and then recovers, one that refuses the event,
// and one that cannot be reached.
func TestListenRetries(t *testing.T) {
	t.Run("500 500 200 is delivered on the third attempt", func(t *testing.T) {
		srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
		h := newHook(t, func(n int) int {
			if n <= 2 {
				return http.StatusInternalServerError
			}
			return http.StatusOK
		})
		r := start(t, listenArgs(srv, wsID, h.URL, "--retry-wait-max", "20ms")...)
		r.waitConnected(t, srv, 1)
		ev := dialpadtest.NewGenerator(1).SMS()
		srv.Publish("sms", ev)
		got := h.waitRequests(t, 3, 10*time.Second)
		r.stdout.waitFor(t, "<-- [200] sms", 10*time.Second)
		for i, req := range got {
			if string(req.body) != string(ev) {
				t.Errorf("attempt %d body differs from the event", i+1)
			}
			if a := req.header.Get("X-Dialpad-Tunnel-Attempt"); a != strconv.Itoa(i+1) {
				t.Errorf("attempt %d has attempt header %q", i+1, a)
			}
			if id := req.header.Get("X-Dialpad-Tunnel-Delivery-Id"); id == "" || id != got[0].header.Get("X-Dialpad-Tunnel-Delivery-Id") {
				t.Errorf("attempt %d delivery id %q, want the same non-empty id on every attempt", i+1, id)
			}
		}
		mustContain(t, r.stdout.String(), "attempts=3")
	})

	t.Run("400 is final and reported", func(t *testing.T) {
		srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
		h := newHook(t, func(int) int { return http.StatusBadRequest })
		r := start(t, listenArgs(srv, wsID, h.URL, "--retry-wait-max", "20ms")...)
		r.waitConnected(t, srv, 1)
		srv.Publish("contact", dialpadtest.NewGenerator(2).Contact())
		r.stdout.waitFor(t, "FAILED contact", 10*time.Second)
		if err := r.stop(t); err != nil {
			t.Fatal(err)
		}
		if n := len(h.waitRequests(t, 0, 0)); n != 1 {
			t.Fatalf("handler saw %d requests for a 400, want 1 (no retry)", n)
		}
		out := r.stdout.String()
		mustContain(t, out, "<-- [400]")
		mustContain(t, out, "attempts=1")
	})

	t.Run("unreachable handler is retried then reported", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + ln.Addr().String() + "/hook"
		ln.Close()
		srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
		r := start(t, listenArgs(srv, wsID, dead, "--retry-wait-max", "20ms", "--max-attempts", "4")...)
		r.waitConnected(t, srv, 1)
		srv.Publish("changelog", dialpadtest.NewGenerator(3).Changelog())
		r.stdout.waitFor(t, "FAILED changelog", 10*time.Second)
		out := r.stdout.String()
		mustContain(t, out, "connection refused")
		mustContain(t, out, "attempts=4")
	})
}

// TestListenBadAPIKey: a refused key stops the agent with a non-zero exit
// and a message that says so, and nothing printed holds a secret.
func TestListenBadAPIKey(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	const badKey = "not-the-right-key-123456"
	h := newHook(t, nil)
	args := listenArgs(srv, wsID, h.URL, "--log-format", "json")
	for i, a := range args {
		if a == srv.APIKey() {
			args[i] = badKey
		}
	}
	r := start(t, args...)
	err := r.wait(t, 20*time.Second)
	if err == nil {
		t.Fatal("listen with a bad API key exited without error")
	}
	msg := err.Error()
	mustContain(t, msg, "401")
	mustContain(t, msg, "API key")
	all := msg + r.stdout.String() + r.stderr.String()
	for _, secret := range []string{badKey, srv.APIKey(), "/events/ey"} {
		if strings.Contains(all, secret) {
			t.Errorf("output contains a secret (%q):\n%s", secret, all)
		}
	}
}

// TestListenRefusedLeavesNoSpool: a listen Dialpad refuses at start (an
// unknown websocket id, here) leaves no empty spool file behind, route
// files included: one used to stay, and a bare `events list` then asked
// which of the spools to use.
func TestListenRefusedLeavesNoSpool(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, nil)
	r := start(t, listenArgs(srv, wsID+1000, h.URL, "--route", "call="+h.URL)...)
	err := r.wait(t, 20*time.Second)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("listen on an unknown websocket: error %v, want Dialpad's 404", err)
	}
	// The API is --api-base here: the hint said "and --env" only.
	mustContain(t, err.Error(), "no such websocket or subscription on this account: check the id and --env/--api-base")
	files, _ := filepath.Glob(filepath.Join(state, "dialpad-tunnel", "spool", "*"))
	if len(files) != 0 {
		t.Errorf("a listen refused at start left %v", files)
	}
}

// TestListenUsageErrors: missing or malformed flags give a clear error
// before anything connects.
func TestListenUsageErrors(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	base := []string{"listen", "--api-base", srv.URL()}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{append(base, "--websocket-id", "1", "--forward-to", "http://127.0.0.1:1/"), "no API key"},
		{append(base, "--api-key", "k", "--forward-to", "http://127.0.0.1:1/"), "nothing to listen to"},
		{append(base, "--api-key", "k", "--websocket-id", "1"), "--forward-to"},
		{append(base, "--api-key", "k", "--subscription", "fax:1", "--forward-to", "http://127.0.0.1:1/"), "fax"},
		{append(base, "--api-key", "k", "--subscription", "call", "--forward-to", "http://127.0.0.1:1/"), "TYPE:ID"},
		{append(base, "--api-key", "k", "--websocket-id", fmt.Sprint(wsID), "--forward-to", "http://127.0.0.1:1/", "--header", "bad header"), "--header"},
		{append(base, "--api-key", "k", "--websocket-id", fmt.Sprint(wsID), "--forward-to", "not a url"), "URL"},
		{append(base, "--api-key", "k", "--websocket-id", fmt.Sprint(wsID), "--forward-to", "http://127.0.0.1:1/", "--log-format", "xml"), "--log-format"},
		{append(base, "--api-key", "k", "--websocket-id", fmt.Sprint(wsID), "--route", "call=http://127.0.0.1:1/"), "would go nowhere"},
		{append(base, "--api-key", "k", "--websocket-id", fmt.Sprint(wsID), "--route", "call=http://127.0.0.1:1/", "--events", "call,sms"), "--events sms has no --route"},
		{append(base, "--api-key", "k", "--websocket-id", fmt.Sprint(wsID), "--forward-to", "http://127.0.0.1:1/", "--route", "sms=http://127.0.0.1:1/sms", "--events", "call", "--no-spool"), "--events leaves sms out, and without a spool"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			r := start(t, tc.args...)
			err := r.wait(t, 10*time.Second)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestDemo runs `demo` as a user would, shortened: it must exit 0 and say
// that nothing was lost.
func TestDemo(t *testing.T) {
	r := start(t, "demo", "--duration", "2s", "--rate", "50", "--token-ttl", "500ms")
	if err := r.wait(t, 60*time.Second); err != nil {
		t.Fatalf("demo: %v\n%s", err, r.stdout.String())
	}
	out := r.stdout.String()
	mustContain(t, out, "OK: nothing lost")
	mustContain(t, out, "lost         0")
}

// TestDemoJSONLogs: with --log-format json, demo's stdout is JSON lines
// only: its banner and summary go to stderr (they broke `| jq`).
func TestDemoJSONLogs(t *testing.T) {
	r := start(t, "demo", "--duration", "1s", "--rate", "20", "--log-format", "json")
	if err := r.wait(t, 60*time.Second); err != nil {
		t.Fatalf("demo: %v\n%s", err, r.stderr.String())
	}
	mustContain(t, r.stderr.String(), "OK: nothing lost")
	lines := strings.Split(strings.TrimSpace(r.stdout.String()), "\n")
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Fatalf("stdout line not JSON: %q", l)
		}
	}
	if len(lines) < 20 {
		t.Errorf("%d JSON lines on stdout, want the log of the demo's events", len(lines))
	}
}

// TestListenRotationJWTWithIssuedAt: when the same event reaches two
// connections as JWTs with different iat claims (so different bytes), the
// agent still forwards it once: duplicates are matched on the claims
// without iat/exp/nbf.
func TestListenRotationJWTWithIssuedAt(t *testing.T) {
	const secret = "iat-secret"
	srv, wsID := fakeDialpad(t, dialpadtest.Config{TokenTTL: 400 * time.Millisecond, JWTIssuedAt: true}, secret)
	h := newHook(t, nil)
	r := start(t, listenArgs(srv, wsID, h.URL, "--log-format", "json")...)
	r.waitConnected(t, srv, 1)
	gen := dialpadtest.NewGenerator(43)
	sent := map[string]bool{}
	overlap := 0
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); <-tick.C {
		typ, ev := gen.Next()
		d := srv.Publish(typ, ev)
		if d.Frames > 0 {
			sent[string(ev[1:])] = true // the claims after "{"; the agent's copy has "iat" first
		}
		if d.Frames > 1 {
			overlap++
		}
	}
	h.waitRequests(t, len(sent), 20*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	got := h.waitRequests(t, 0, 0)
	seen := map[string]int{}
	for _, req := range got {
		payload, err := signing.Payload(req.body)
		if err != nil {
			t.Fatal(err)
		}
		_, rest, ok := strings.Cut(string(payload), ",") // drop the leading "iat" claim
		if !ok || !sent[rest] {
			t.Fatalf("delivered payload is no published event: %.80q", payload)
		}
		seen[rest]++
	}
	for ev, n := range seen {
		if n != 1 {
			t.Errorf("event delivered %d times: %.60q", n, ev)
		}
	}
	if len(seen) != len(sent) {
		t.Errorf("%d of %d events delivered", len(seen), len(sent))
	}
	if overlap == 0 {
		t.Fatal("no event reached two connections: the test proves nothing")
	}
	t.Logf("%d events, %d of them on two connections with different iat", len(sent), overlap)
}
