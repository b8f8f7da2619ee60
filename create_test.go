package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/urfave/cli/v2"
)

func createArgs(srv *dialpadtest.Server, forwardTo string, extra ...string) []string {
	return append([]string{"listen", "--api-base", srv.URL(), "--api-key", srv.APIKey(), "--create", "--forward-to", forwardTo}, extra...)
}

// counts returns how many websockets and subscriptions the fake holds.
func counts(t *testing.T, srv *dialpadtest.Server) (websockets, subscriptions int) {
	t.Helper()
	c := testClient(t, srv)
	wss, err := c.ListWebsockets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range dialpad.SubscriptionTypes() {
		subs, err := c.ListSubscriptions(context.Background(), typ)
		if err != nil {
			t.Fatal(err)
		}
		subscriptions += len(subs)
	}
	return len(wss), subscriptions
}

// TestListenCreateCleansUp: `listen --create` makes a websocket and the
// subscriptions with the options given, delivers events, and after Ctrl-C
// (the context cancelled) leaves nothing behind; --keep keeps them.
func TestListenCreateCleansUp(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run("keep="+strconv.FormatBool(keep), func(t *testing.T) {
			srv := newFake(t, dialpadtest.Config{})
			h := newHook(t, nil)
			extra := []string{"--events", "call,sms", "--secret", "run-secret", "--call-states", "calling,hangup",
				"--group-calls-only", "--sms-direction", "inbound", "--delivery-status", "--log-format", "json"}
			if keep {
				extra = append(extra, "--keep")
			}
			r := start(t, createArgs(srv, h.URL, extra...)...)
			r.waitConnected(t, srv, 1)
			c := testClient(t, srv)
			calls, _ := c.ListSubscriptions(context.Background(), dialpad.Call)
			sms, _ := c.ListSubscriptions(context.Background(), dialpad.SMS)
			if len(calls) != 1 || !calls[0].GroupCallsOnly || strings.Join(calls[0].CallStates, ",") != "calling,hangup" {
				t.Errorf("call subscriptions %+v", calls)
			}
			if len(sms) != 1 || sms[0].Direction != "inbound" || !sms[0].Status {
				t.Errorf("sms subscriptions %+v", sms)
			}
			if d := srv.Publish("call", []byte(`{"call_id":1,"state":"hangup"}`)); d.Frames != 1 {
				t.Fatalf("publish: %+v", d)
			}
			got := h.waitRequests(t, 1, 10*time.Second)
			if ct := got[0].header.Get("Content-Type"); ct != "application/jwt" {
				t.Errorf("Content-Type %q: --secret did not sign the websocket", ct)
			}
			if err := r.stop(t); err != nil {
				t.Fatalf("listen --create: %v\n%s", err, r.stdout.String())
			}
			ws, subs := counts(t, srv)
			out := r.stdout.String()
			if strings.Contains(out, "run-secret") || strings.Contains(out, srv.APIKey()) {
				t.Errorf("output holds a secret:\n%s", out)
			}
			if keep {
				if ws != 1 || subs != 2 {
					t.Errorf("--keep left %d websockets, %d subscriptions; want 1 and 2", ws, subs)
				}
				mustContain(t, out, "kept websocket 1000, subscriptions call 1001, sms 1002")
				// The next-time line goes on where this run was: the same API,
				// the same handler and log format.
				mustContain(t, out, "listen --websocket-id 1000 --api-base "+srv.URL()+" --forward-to "+h.URL+" --log-format json --spool ")
				mustContain(t, out, "-create-call-sms.spool\n") // next time: the same spool, with what this run left
				return
			}
			if ws != 0 || subs != 0 {
				t.Errorf("after Ctrl-C the fake still has %d websockets and %d subscriptions", ws, subs)
			}
		})
	}
}

// TestListenCreateKeepHeaders: the next-time line of --create --keep
// names every --header and --route-header with its value left out (it may
// be a secret), and says so; they used to be left out without a word, so
// the next run sent none. It repeats the run's other listen flags too,
// a secret as its environment variable, and none of --create's own.
func TestListenCreateKeepHeaders(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	h := newHook(t, nil)
	calls := newHook(t, nil)
	r := start(t, createArgs(srv, h.URL, "--events", "call,sms", "--keep", "--log-format", "json",
		"--header", "Authorization: Bearer zzz-header-secret", "--header", "X-Trace:t1-value",
		"--route", "call="+calls.URL, "--route-header", "call=X-Tenant: tenant-secret",
		"--secret", "ws-secret-value", "--verify-secret", "ws-secret-value", "--concurrency", "3", "--max-age", "2h", "--no-spool=false")...)
	r.waitConnected(t, srv, 1)
	if err := r.stop(t); err != nil {
		t.Fatalf("listen --create --keep: %v\n%s", err, r.stdout.String())
	}
	out := r.stdout.String()
	for _, secret := range []string{"zzz-header-secret", "t1-value", "tenant-secret", "ws-secret-value"} {
		if strings.Contains(out, secret) {
			t.Errorf("output holds a header's value %q:\n%s", secret, out)
		}
	}
	mustContain(t, out, " --header 'Authorization: …' --header 'X-Trace: …' --route-header 'call=X-Tenant: …' --concurrency 3 --no-spool=false --max-age 2h0m0s --log-format json --verify-secret \"$DIALPAD_VERIFY_SECRET\" --spool ")
	mustContain(t, out, "\n  (the values of --header and --route-header are left out, shown as …: put yours back)")
	mustContain(t, out, "\n  (secrets are read from DIALPAD_VERIFY_SECRET: set it before you run it, or put yours back)")
	if strings.Contains(out, "--secret") || strings.Contains(out, "--events") {
		t.Errorf("the next-time line repeats a flag of --create's own:\n%s", out)
	}
}

// TestListenCreateKeepHeadersFromEnvironment: headers given through
// DIALPAD_TUNNEL_HEADERS and DIALPAD_TUNNEL_ROUTE_HEADERS are not in the
// next-time line, and a note says so (it said nothing, and the next run,
// elsewhere, sent none); their values are never shown.
func TestListenCreateKeepHeadersFromEnvironment(t *testing.T) {
	t.Setenv("DIALPAD_TUNNEL_HEADERS", "X-Tok: env-header-secret")
	t.Setenv("DIALPAD_TUNNEL_ROUTE_HEADERS", "call=X-Tenant: env-route-secret")
	srv := newFake(t, dialpadtest.Config{})
	h := newHook(t, nil)
	calls := newHook(t, nil)
	r := start(t, createArgs(srv, h.URL, "--events", "call,contact", "--keep", "--route", "call="+calls.URL)...)
	r.waitConnected(t, srv, 1)
	if err := r.stop(t); err != nil {
		t.Fatalf("listen --create --keep: %v\n%s", err, r.stdout.String())
	}
	out := r.stdout.String()
	for _, secret := range []string{"env-header-secret", "env-route-secret", "X-Tok", "X-Tenant"} {
		if strings.Contains(out, secret) {
			t.Errorf("output holds %q:\n%s", secret, out)
		}
	}
	mustContain(t, out, "\n  (headers are read from DIALPAD_TUNNEL_HEADERS, DIALPAD_TUNNEL_ROUTE_HEADERS too, not shown here: set them before you run it)")
	if strings.Contains(out, "the values of --header") {
		t.Errorf("a note on --header flags none of which was given:\n%s", out)
	}
}

// TestListenCreateErrors: bad flag combinations are refused before any
// REST call; a refused subscription removes the websocket made before it.
func TestListenCreateErrors(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{createArgs(srv, "http://127.0.0.1:1/"), "--events"},
		{createArgs(srv, "http://127.0.0.1:1/", "--events", "fax"), "fax"},
		{createArgs(srv, "http://127.0.0.1:1/", "--events", "call", "--contact-type", "local"), "--contact-type applies to contact"},
		{createArgs(srv, "http://127.0.0.1:1/", "--events", "call", "--websocket-id", "5"), "drop --websocket-id"},
		{listenArgs(srv, 5, "http://127.0.0.1:1/", "--events", "fax"), "--events"},
		{listenArgs(srv, 5, "http://127.0.0.1:1/", "--sms-direction", "inbound"), "--sms-direction needs --create"},
		{createArgs(srv, "http://127.0.0.1:1/", "--events", "contact,call", "--target-type", "bogus", "--target-id", "1"), `--target-type "bogus": want one of callcenter,`},
	} {
		r := start(t, tc.args...)
		if err := r.wait(t, 10*time.Second); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args[5:], err, tc.want)
		}
	}
	if n := len(srv.RESTCalls()); n != 0 {
		t.Errorf("usage errors made %d REST calls", n)
	}

	// The contact subscription is created, then Dialpad refuses the call
	// one (a front that answers for it as Dialpad does for a value it
	// does not take).
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/api/v2/subscriptions/call" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"code":400,"message":"invalid target_type \"office\""}}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer front.Close()
	args := createArgs(srv, "http://127.0.0.1:1/", "--events", "contact,call", "--target-type", "office", "--target-id", "1")
	args[2] = front.URL // --api-base
	r := start(t, args...)
	err = r.wait(t, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "create call subscription: 400") || !strings.Contains(err.Error(), "invalid target_type") {
		t.Fatalf("error %v, want the refused create with Dialpad's message", err)
	}
	if ws, subs := counts(t, srv); ws != 0 || subs != 0 {
		t.Errorf("a failed --create left %d websockets and %d subscriptions", ws, subs)
	}
}

// TestListenCreateSpoolOutlivesItsWebsocket: an event that one `listen
// --create` run could not deliver (its handler answered 503 until Ctrl-C)
// is delivered, same delivery id and bytes, by the next run with the same
// --events, though that run creates another websocket. The first run's
// last line says which run delivers it, and `events list --create
// --events` finds the file; an explicit --spool still chooses the file.
func TestListenCreateSpoolOutlivesItsWebsocket(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	srv := newFake(t, dialpadtest.Config{})
	var status atomic.Int32
	status.Store(http.StatusServiceUnavailable)
	h := newHook(t, func(int) int { return int(status.Load()) })
	args := createArgs(srv, h.URL, "--events", "sms", "--retry-wait-max", "20ms")

	r := start(t, args...)
	r.waitConnected(t, srv, 1)
	ev := dialpadtest.NewGenerator(11).SMS()
	if d := srv.Publish("sms", ev); d.Frames != 1 {
		t.Fatalf("publish: %+v", d)
	}
	id := h.waitRequests(t, 1, 10*time.Second)[0].header.Get("X-Dialpad-Tunnel-Delivery-Id")
	if err := r.stop(t); err != nil {
		t.Fatalf("first run: %v\n%s", err, r.stdout.String())
	}
	mustContain(t, r.stdout.String(), "deleted what --create made; the events left in the spool are delivered by the next `listen --create` with the same --events and --env/--api-base")
	mustContain(t, r.stdout.String(), "pending=1")
	if ws, subs := counts(t, srv); ws != 0 || subs != 0 {
		t.Fatalf("the first run left %d websockets and %d subscriptions", ws, subs)
	}
	if p := listJSON(t, "--pending", "--create", "--events", "sms", "--api-base", srv.URL()); len(p) != 1 || p[0].ID != id {
		t.Fatalf("events list --pending --create --events sms = %+v, want the event %s", p, id)
	}

	status.Store(http.StatusOK) // the handler is fixed
	r = start(t, args...)
	r.stdout.waitFor(t, "<-- [200] sms", 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("second run: %v\n%s", err, r.stdout.String())
	}
	got := h.waitRequests(t, 2, 0)
	last := got[len(got)-1]
	if last.header.Get("X-Dialpad-Tunnel-Delivery-Id") != id || string(last.body) != string(ev) {
		t.Fatalf("second run delivered id %q body %.60q; want the first run's event %s, byte for byte",
			last.header.Get("X-Dialpad-Tunnel-Delivery-Id"), last.body, id)
	}
	if out := r.stdout.String(); strings.Contains(out, "events left in the spool are delivered") {
		t.Errorf("second run claims events are left:\n%s", out)
	}

	explicit := filepath.Join(t.TempDir(), "mine.spool")
	r = start(t, append(args, "--spool", explicit)...)
	r.stdout.waitFor(t, "spool="+explicit, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("run with --spool: %v", err)
	}
	if _, err := os.Stat(explicit); err != nil {
		t.Fatalf("--create with --spool: %v", err)
	}
}

// TestListenCreateFailedCleanUpIsAnError: a `listen --create` run that lost
// an event (exit 3 on its own) and then failed to delete what it made exits
// 1, as an error, and says both.
func TestListenCreateFailedCleanUpIsAnError(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	h := newHook(t, nil)
	r := start(t, createArgs(srv, h.URL, "--events", "sms", "--max-frame-bytes", "1024")...)
	r.waitConnected(t, srv, 1)
	big := `{"id":1,"text":"` + strings.Repeat("x", 2048) + `"}`
	if d := srv.Publish("sms", []byte(big)); d.Frames != 1 {
		t.Fatalf("publish: %+v", d)
	}
	r.stdout.waitFor(t, "an event larger than --max-frame-bytes was refused and is lost", 10*time.Second)
	srv.FailNextREST(100, http.StatusForbidden, 0) // the clean-up's deletes
	err := r.stop(t)
	var ec cli.ExitCoder
	if err == nil || errors.As(err, &ec) {
		t.Fatalf("listen --create: %v, want a plain error (exit 1), not an exit code", err)
	}
	if !strings.Contains(err.Error(), "events were lost: 1 refused as larger than --max-frame-bytes") {
		t.Errorf("error %q does not say the event was lost", err)
	}
}

// TestListenCreateCleanUpHintWorksAsPrinted: when `listen --create` cannot
// delete what it made, its error gives the command that deletes each
// object left, with the run's --api-base. It said "delete it with
// `dialpad-tunnel websockets delete ID`", with no --api-base (so against
// Dialpad itself), and of the websocket, which was deleted, not of the
// subscription left.
func TestListenCreateCleanUpHintWorksAsPrinted(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	refused := make(chan string, 1) // the path of the refused delete
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/api/v2/subscriptions/sms":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"code":400,"message":"refused"}}`)
		case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/api/v2/subscriptions/call/"):
			select {
			case refused <- r.URL.Path:
			default:
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"error":{"code":403,"message":"forbidden"}}`)
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	defer front.Close()
	args := createArgs(srv, "http://127.0.0.1:1/", "--events", "call,sms")
	args[2] = front.URL // --api-base
	err = start(t, args...).wait(t, 10*time.Second)
	var path string
	select {
	case path = <-refused:
	default:
		t.Fatalf("error %v, and the call subscription's delete was never asked", err)
	}
	id := strings.TrimPrefix(path, "/api/v2/subscriptions/call/")
	want := "delete what is left with `dialpad-tunnel subscriptions delete --type call " + id + " --api-base " + front.URL + "`: "
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v\nwant it to contain %q", err, want)
	}
	if err != nil && strings.Contains(err.Error(), "websockets delete") {
		t.Errorf("error %v: the websocket was deleted, but the error says to delete it", err)
	}
}

// TestListenCreateRestartLogsNoGap: a second `listen --create` run on the
// first one's spool logs no "events sent by Dialpad in this window were
// missed" window since the first run stopped. Its websocket and
// subscriptions did not exist then (the first run deleted its own), so
// Dialpad sent nothing to them; it warned, naming the new websocket, on
// every restart of the README's quick start.
func TestListenCreateRestartLogsNoGap(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	srv := newFake(t, dialpadtest.Config{})
	h := newHook(t, nil)
	args := createArgs(srv, h.URL, "--events", "sms")

	for i := 1; i <= 2; i++ {
		r := start(t, args...)
		r.stdout.waitFor(t, "INFO  connected", 10*time.Second) // logged after any restart gap, by the same goroutine
		if err := r.stop(t); err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, r.stdout.String())
		}
		if out := r.stdout.String(); strings.Contains(out, "were missed") || strings.Contains(out, "gaps=") {
			t.Fatalf("run %d of listen --create logged a gap for a websocket made for it:\n%s", i, out)
		}
	}
}
