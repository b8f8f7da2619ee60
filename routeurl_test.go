package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// switchHook is a handler that answers 503 until up is set, then 200.
func switchHook(t *testing.T, up *atomic.Bool) *hook {
	return newHook(t, func(int) int {
		if up.Load() {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	})
}

// waitHandshakes returns once the fake has taken n websocket handshakes:
// the n-th connection is open there, and a Publish reaches it.
func waitHandshakes(t *testing.T, srv *dialpadtest.Server, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.WaitHandshakes(ctx, n); err != nil {
		t.Fatalf("the fake took %d handshakes, want %d: %v", srv.Handshakes(), n, err)
	}
}

// callState is a call event of call 1 in state: events of one call share
// an ordering key, so a spool delivers an earlier one first.
func callState(state string) []byte {
	return []byte(`{"call_id":1,"state":"` + state + `"}`)
}

// bodies are the bodies of the requests a hook got from the from-th on
// (0-based), as strings.
func bodies(h *hook, from int) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.requests[min(from, len(h.requests)):] {
		out = append(out, string(r.body))
	}
	return out
}

// TestRouteSpoolFollowsHandlerWhenReordered: run 1 has two call routes,
// A up and B down, so B's spool keeps the event pending. Run 2 gives the
// same routes in the other order, B up: B's pending event reaches B, and
// A gets nothing more. Route spools were named by position: A's route,
// second now, opened B's file and got B's event, and B never did.
func TestRouteSpoolFollowsHandlerWhenReordered(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	a := newHook(t, nil)
	var bUp atomic.Bool
	b := switchHook(t, &bUp)
	base := filepath.Join(t.TempDir(), "ro.spool")
	routes := func(first, second string) []string {
		return listenArgs(srv, wsID, "", "--spool", base, "--events", "call", "--retry-wait-max", "20ms",
			"--route", "call="+first, "--route", "call="+second)
	}

	r := start(t, routes(a.URL+"/a", b.URL+"/b")...)
	r.waitConnected(t, srv, 1)
	srv.Publish("call", callEvent(1))
	a.waitRequests(t, 1, 10*time.Second)
	b.waitRequests(t, 1, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("run 1: %v", err)
	}
	aGot := len(bodies(a, 0))
	bGot := len(bodies(b, 0))

	bUp.Store(true)
	r = start(t, routes(b.URL+"/b", a.URL+"/a")...)
	waitHandshakes(t, srv, 2)
	srv.Publish("call", callEvent(2)) // after the pending one (its own key): both get it
	a.waitRequests(t, aGot+1, 10*time.Second)
	b.waitRequests(t, bGot+2, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("run 2: %v", err)
	}
	if got, want := bodies(a, aGot), []string{string(callEvent(2))}; !slices.Equal(got, want) {
		t.Errorf("handler A got %q in run 2, want only the new event %q: B's pending event went to A", got, want)
	}
	got := bodies(b, bGot)
	if len(got) != 2 || !slices.Contains(got, string(callEvent(1))) || !slices.Contains(got, string(callEvent(2))) {
		t.Errorf("handler B got %q in run 2, want its pending event and the new one", got)
	}
	out := r.stdout.String()
	if strings.Contains(out, "handler URL of this route changed") || strings.Contains(out, "does not deliver") {
		t.Errorf("run 2 warned of a moved handler or an unused spool; it has the same routes:\n%s", out)
	}
}

// TestRemovedRouteSpoolNamesItsHandler: run 1 has two call routes, the
// first (A, its URL with a password and a token) down, so its spool keeps
// the event pending. Run 2 has the second route only: its handler gets
// none of A's events, and the warning of A's spool names A's handler
// without the password or the token. Route spools were named by position:
// B's route, alone now, opened A's file and delivered A's event.
func TestRemovedRouteSpoolNamesItsHandler(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	var aUp atomic.Bool
	a := switchHook(t, &aUp)
	b := newHook(t, nil)
	dir := t.TempDir()
	base := filepath.Join(dir, "rm.spool")
	aURL := strings.Replace(a.URL, "http://", "http://alice:pw5ecret@", 1) + "/calls?token=t0ken5ecret"
	args := func(routes ...string) []string {
		args := listenArgs(srv, wsID, "", "--spool", base, "--events", "call", "--retry-wait-max", "20ms")
		for _, u := range routes {
			args = append(args, "--route", "call="+u)
		}
		return args
	}

	r := start(t, args(aURL, b.URL)...)
	r.waitConnected(t, srv, 1)
	srv.Publish("call", callState("ringing"))
	a.waitRequests(t, 1, 10*time.Second)
	b.waitRequests(t, 1, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("run 1: %v", err)
	}
	bGot := len(bodies(b, 0))

	r = start(t, args(b.URL)...)
	waitHandshakes(t, srv, 2)
	// Same call, so the same key: had B's route A's pending event, it
	// would deliver it before this one.
	srv.Publish("call", callState("hangup"))
	b.waitRequests(t, bGot+1, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("run 2: %v", err)
	}
	if got, want := bodies(b, bGot), []string{string(callState("hangup"))}; !slices.Equal(got, want) {
		t.Errorf("handler B got %q in run 2, want only the new event %q", got, want)
	}
	out := r.stdout.String()
	aFile := filepath.Join(dir, "rm.call.spool")
	line := logLine(t, out, "file="+aFile+" ")
	for _, want := range []string{"WARN", "start listen with --route call=URL again", "handler=" + a.URL + "/calls ", "pending=1"} {
		mustContain(t, line, want)
	}
	record, err := os.ReadFile(aFile + ".handler.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"pw5ecret", "t0ken5ecret", "alice"} {
		if strings.Contains(out, secret) || strings.Contains(string(record), secret) {
			t.Errorf("%q of the handler's URL is in the log or the handler record:\n%s\n%s", secret, out, record)
		}
	}
}

// TestMovedHandlerTakesItsSpool: the one call route's handler moved (a
// new port): its spool, recorded for the old URL, is the new one's, and a
// warning names both URLs and the pending events that now go to the new
// one, which gets them.
func TestMovedHandlerTakesItsSpool(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	old := newHook(t, func(int) int { return http.StatusServiceUnavailable })
	moved := newHook(t, nil)
	base := filepath.Join(t.TempDir(), "mv.spool")
	args := func(url string) []string {
		return listenArgs(srv, wsID, "", "--spool", base, "--events", "call", "--retry-wait-max", "20ms", "--route", "call="+url)
	}
	r := start(t, args(old.URL)...)
	r.waitConnected(t, srv, 1)
	srv.Publish("call", callEvent(1))
	old.waitRequests(t, 1, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("run 1: %v", err)
	}

	r = start(t, args(moved.URL)...)
	got := moved.waitRequests(t, 1, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("run 2: %v", err)
	}
	if string(got[0].body) != string(callEvent(1)) {
		t.Errorf("the moved handler got %q, want the pending event", got[0].body)
	}
	line := logLine(t, r.stdout.String(), "handler URL of this route changed")
	for _, want := range []string{"WARN", "route=call", "old_url=" + old.URL, "new_url=" + moved.URL, "pending=1"} {
		mustContain(t, line, want)
	}
}

// TestPlaceRoutes: which spool file each call route takes, from the
// files next to the base (each recorded for a handler URL, or "" for one
// an earlier version wrote, with no record) and the --route URLs in the
// order given.
func TestPlaceRoutes(t *testing.T) {
	const a, b, c = "http://127.0.0.1:3000/a", "http://127.0.0.1:3000/b", "http://127.0.0.1:3001/a"
	for _, tc := range []struct {
		name   string
		files  map[string]string // route name: its handler URL, "" none recorded
		routes []string
		want   []string
	}{
		{"no files", nil, []string{a, b}, []string{"call", "call-2"}},
		{"same order", map[string]string{"call": a, "call-2": b}, []string{a, b}, []string{"call", "call-2"}},
		{"reordered", map[string]string{"call": a, "call-2": b}, []string{b, a}, []string{"call-2", "call"}},
		{"scheme and host in any case", map[string]string{"call": a, "call-2": b}, []string{"HTTP://127.0.0.1:3000/b"}, []string{"call-2"}},
		{"first removed", map[string]string{"call": a, "call-2": b}, []string{b}, []string{"call-2"}},
		{"handler moved", map[string]string{"call": a}, []string{c}, []string{"call"}},
		{"numbered file, handler moved", map[string]string{"call-2": a}, []string{c}, []string{"call-2"}},
		{"one route, two other files", map[string]string{"call": a, "call-2": b}, []string{c}, []string{"call-3"}},
		{"two routes, one moved", map[string]string{"call": a, "call-2": b}, []string{a, c}, []string{"call", "call-3"}},
		{"earlier version's files, by position", map[string]string{"call": "", "call-2": ""}, []string{b, a}, []string{"call", "call-2"}},
		{"earlier version's file and a recorded one", map[string]string{"call": "", "call-2": b}, []string{c, b}, []string{"call", "call-2"}},
		{"a recorded file is not taken by position", map[string]string{"call": "", "call-2": b}, []string{b, c}, []string{"call-2", "call-3"}},
		// A password or a token in the URL, rotated, keeps the route its
		// file: it took a new one, and the old one's events waited unsent.
		{"password rotated", map[string]string{"call": "http://u:old@127.0.0.1:3000/a", "call-2": b}, []string{"http://u:new@127.0.0.1:3000/a", b}, []string{"call", "call-2"}},
		{"query token rotated", map[string]string{"call": a + "?token=old", "call-2": b}, []string{a + "?token=new", b}, []string{"call", "call-2"}},
		{"same URL but for the query, by position", map[string]string{"call": a + "?t=1", "call-2": a + "?t=2"}, []string{a + "?t=1", a + "?t=2"}, []string{"call", "call-2"}},
		{"default port", map[string]string{"call": "http://127.0.0.1:80/a", "call-2": b}, []string{b, "http://127.0.0.1/a"}, []string{"call-2", "call"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := filepath.Join(t.TempDir(), "p.spool")
			for name, url := range tc.files {
				path := routeSpoolPath(base, name)
				spoolBatch(t, path, func(*spool.Disk) {})
				if url != "" {
					if err := writeHandler(path, handlerOf(url)); err != nil {
						t.Fatal(err)
					}
				}
			}
			var routes []routeOptions
			for i, u := range tc.routes {
				name := "call"
				if i > 0 {
					name = "call-" + strconv.Itoa(i+1)
				}
				routes = append(routes, routeOptions{Name: name, Types: []string{"call"}, Forward: forward.Config{URL: u}})
			}
			if err := placeRoutes(base, routes, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range routes {
				got = append(got, r.Name)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("routes %v over files %v took %v, want %v", tc.routes, tc.files, got, tc.want)
			}
		})
	}
}

// TestHandlerRecordHoldsNoSecret: the record of a handler whose URL holds
// a password, a user name as token or a query token is the same as that of
// the URL without them: the file holds no hash that a guessed password or
// token could be checked against, only what the log shows.
func TestHandlerRecordHoldsNoSecret(t *testing.T) {
	plain := handlerOf("http://127.0.0.1:3000/calls")
	for _, u := range []string{
		"http://alice:pw5ecret@127.0.0.1:3000/calls",
		"http://T0KEN@127.0.0.1:3000/calls",
		"http://127.0.0.1:3000/calls?token=t0ken5ecret",
		"HTTP://127.0.0.1:3000/calls?",
	} {
		if got := handlerOf(u); got != plain {
			t.Errorf("handler record of %q is %+v, want that of the URL without user and query, %+v", u, got, plain)
		}
	}
}

// TestRotatedTokenKeepsRouteSpool: run 1 has two call routes, A's URL with
// a token in its query, and A down, so A's spool keeps the event pending.
// Run 2 gives A's URL with a new token: A gets its pending event, and no
// spool is warned of. The token was part of what a route's file was
// matched by: A's route started a file of its own, and its pending event
// waited in the old one, which the warning told to give its old URL for.
func TestRotatedTokenKeepsRouteSpool(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	var aUp atomic.Bool
	a := switchHook(t, &aUp)
	b := newHook(t, nil)
	base := filepath.Join(t.TempDir(), "tok.spool")
	args := func(token string) []string {
		return listenArgs(srv, wsID, "", "--spool", base, "--events", "call", "--retry-wait-max", "20ms",
			"--route", "call="+a.URL+"/calls?token="+token, "--route", "call="+b.URL)
	}

	r := start(t, args("old")...)
	r.waitConnected(t, srv, 1)
	srv.Publish("call", callEvent(1))
	a.waitRequests(t, 1, 10*time.Second)
	b.waitRequests(t, 1, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("run 1: %v", err)
	}
	aGot := len(bodies(a, 0))

	aUp.Store(true)
	r = start(t, args("new")...)
	a.waitRequests(t, aGot+1, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("run 2: %v", err)
	}
	if got := bodies(a, aGot); !slices.Contains(got, string(callEvent(1))) {
		t.Errorf("handler A got %q in run 2, want its pending event", got)
	}
	if out := r.stdout.String(); strings.Contains(out, "does not deliver") || strings.Contains(out, "handler URL of this route changed") {
		t.Errorf("run 2 warned of an unused spool or a moved handler; only A's token changed:\n%s", out)
	}
}
