package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// callEvent is one call event with its own call id.
func callEvent(id int) []byte {
	return []byte(`{"call_id":` + strconv.Itoa(id) + `,"state":"hangup"}`)
}

// logLine returns the one line of out that contains s.
func logLine(t *testing.T, out, s string) string {
	t.Helper()
	var found []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d lines hold %q, want 1:\n%s", len(found), s, out)
	}
	return found[0]
}

// TestListenWarnsOfUnusedRouteSpool: a run with --route call leaves an
// event pending in the call route's spool; the next run without that route
// warns at start, naming the file, the route, the counts and how to deliver
// them, and leaves the file byte for byte. A route spool with nothing
// pending or dead is not mentioned; one that cannot be read is, with why.
func TestListenWarnsOfUnusedRouteSpool(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	def := newHook(t, nil)
	calls := newHook(t, func(int) int { return http.StatusServiceUnavailable })
	dir := t.TempDir()
	base := filepath.Join(dir, "orph.spool")

	r := start(t, listenArgs(srv, wsID, def.URL, "--spool", base, "--route", "call="+calls.URL, "--retry-wait-max", "20ms")...)
	r.waitConnected(t, srv, 1)
	srv.Publish("call", callEvent(1))
	calls.waitRequests(t, 1, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("listen with --route call: %v", err)
	}
	callSpool := filepath.Join(dir, "orph.call.spool")
	before, err := os.ReadFile(callSpool)
	if err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "orph.sms.spool")
	spoolBatch(t, empty, func(*spool.Disk) {})
	broken := filepath.Join(dir, "orph.contact.spool")
	if err := os.WriteFile(broken, []byte("not a spool"), 0o600); err != nil {
		t.Fatal(err)
	}

	r = start(t, listenArgs(srv, wsID, def.URL, "--spool", base)...)
	r.stdout.waitFor(t, "starting", 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("listen without the route: %v", err)
	}
	out := r.stdout.String()
	line := logLine(t, out, callSpool)
	for _, want := range []string{"WARN", "the spool of a route this run does not have holds events this run does not deliver",
		"start listen with --route call=URL again", "route=call", "pending=1", "dead=0"} {
		mustContain(t, line, want)
	}
	line = logLine(t, out, broken)
	for _, want := range []string{"WARN", "cannot be read", "route=contact", "not a dialpad-tunnel spool"} {
		mustContain(t, line, want)
	}
	if strings.Contains(out, empty) {
		t.Errorf("a route spool with nothing pending or dead was warned of:\n%s", out)
	}
	after, err := os.ReadFile(callSpool)
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("the unused route spool changed (err %v): %d bytes before, %d after", err, len(before), len(after))
	}
}

// TestEventsRouteSpools: a dead letter of an sms route lives in that
// route's spool, next to the default one. Without --route, events list
// reads the default spool and notes on stderr the route spool beside it,
// with its counts, and so do events show and replay of an id it does not
// hold; with --route sms every events command reaches it,
// found from the sources or as the only spool (with its route's file) in
// the directory.
func TestEventsRouteSpools(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	def := newHook(t, nil)
	texts := newHook(t, func(int) int { return http.StatusBadRequest })
	r := start(t, listenArgs(srv, wsID, def.URL, "--route", "sms="+texts.URL)...)
	r.waitConnected(t, srv, 1)
	srv.Publish("sms", dialpadtest.NewGenerator(3).SMS())
	r.stdout.waitFor(t, "FAILED sms", 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	id := texts.waitRequests(t, 1, 0)[0].header.Get("X-Dialpad-Tunnel-Delivery-Id")
	smsFile := "websocket-" + strconv.FormatInt(wsID, 10) + ".sms.spool"
	src := []string{"--websocket-id", strconv.FormatInt(wsID, 10), "--api-base", srv.URL()}
	events := func(sub string, args ...string) []string {
		return append(append([]string{"events", sub}, src...), args...)
	}

	stdout, stderr, err := cliErr(t, events("list", "--dead")...)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, stdout, "no dead events")
	mustContain(t, stderr, "add --route NAME to see one")
	mustContain(t, logLine(t, stderr, smsFile), "--route sms")
	mustContain(t, logLine(t, stderr, smsFile), "0 pending, 1 dead, 0 delivered; handler "+texts.URL)
	// An id that is in the route's spool, looked for in the default one:
	// the same note (it said only "no such event").
	for _, sub := range []string{"show", "replay"} {
		_, stderr, err := cliErr(t, events(sub, id[:8])...)
		if err == nil || !strings.Contains(err.Error(), "no such event") {
			t.Fatalf("events %s of the route's id in the default spool: %v, want no such event", sub, err)
		}
		mustContain(t, logLine(t, stderr, smsFile), "--route sms")
	}

	if dead := listJSON(t, append(src, "--dead", "--route", "sms")...); len(dead) != 1 || dead[0].ID != id {
		t.Fatalf("events list --dead --route sms = %+v, want the dead letter %s", dead, id)
	}
	if only := listJSON(t, "--dead", "--route", "sms"); len(only) != 1 || only[0].ID != id {
		t.Fatalf("events list --dead --route sms from the only spool = %+v, want the dead letter %s", only, id)
	}
	mustContain(t, mustCLI(t, events("show", "--route", "sms", id[:8])...), "attempts: 1")
	mustContain(t, mustCLI(t, events("replay", "--route", "sms", "--dead")...), "put back 1 event as pending in ")
	mustContain(t, mustCLI(t, events("purge", "--route", "sms", "--dead")...), "purged 0 dead events from ")
	mustContain(t, mustCLI(t, events("salvage", "--route", "sms")...), smsFile+" reads whole")
	if p := listJSON(t, append(src, "--pending", "--route", "sms")...); len(p) != 1 || p[0].ID != id {
		t.Fatalf("pending in the sms route's spool after replay = %+v", p)
	}
	if _, err := runCLI(t, events("list", "--route", "fax")...); err == nil || !strings.Contains(err.Error(), `--route "fax"`) {
		t.Fatalf("events list --route fax = %v, want an error naming it", err)
	}
}

// TestRoutesOnlySpool: with routes only (no --forward-to), --spool PATH
// names the base: the call route's file is PATH with .call before .spool,
// and PATH itself is not made. events --spool PATH says so and names the
// route's file with its counts and handler (they were left out, so two
// routes of a type could not be told apart); --spool PATH --route call
// and --spool of that file read it.
func TestRoutesOnlySpool(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	calls := newHook(t, func(int) int { return http.StatusBadRequest })
	dir := t.TempDir()
	base := filepath.Join(dir, "nf.spool")
	r := start(t, "listen", "--api-base", srv.URL(), "--api-key", srv.APIKey(), "--websocket-id", strconv.FormatInt(wsID, 10),
		"--route", "call="+calls.URL, "--events", "call", "--spool", base)
	r.waitConnected(t, srv, 1)
	srv.Publish("call", callEvent(2))
	r.stdout.waitFor(t, "FAILED call", 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	callSpool := filepath.Join(dir, "nf.call.spool")
	if _, err := os.Stat(base); !os.IsNotExist(err) {
		t.Errorf("routes only made %s (stat: %v); it belongs to --forward-to's route", base, err)
	}

	_, err := runCLI(t, "events", "list", "--spool", base)
	if err == nil {
		t.Fatal("events list --spool of a base with routes only succeeded")
	}
	for _, want := range []string{base + ": no such spool file", "choose one with --route NAME", "--route call  " + callSpool + "  (0 pending, 1 dead, 0 delivered; handler " + calls.URL + ")"} {
		mustContain(t, err.Error(), want)
	}
	for _, args := range [][]string{{"--spool", base, "--route", "call"}, {"--spool", callSpool}} {
		if dead := listJSON(t, append([]string{"--dead"}, args...)...); len(dead) != 1 {
			t.Errorf("events list --dead %v = %+v, want the one dead letter", args, dead)
		}
	}
}

// TestEventsAll: --events all is every type, as the flag's default says:
// no filter for listen, every type for --create.
func TestEventsAll(t *testing.T) {
	for _, list := range [][]string{{"all"}, {"call,ALL"}, {"sms", " all "}} {
		got, err := filterTypes(list)
		if err != nil || got != nil {
			t.Errorf("filterTypes(%q) = %v, %v; want no filter", list, got, err)
		}
		types, err := parseTypes(list)
		if err != nil || len(types) != len(dialpad.SubscriptionTypes()) {
			t.Errorf("parseTypes(%q) = %v, %v; want every type", list, types, err)
		}
	}
	if got, err := filterTypes([]string{"call,sms"}); err != nil || strings.Join(got, ",") != "call,sms" {
		t.Errorf("filterTypes(call,sms) = %v, %v", got, err)
	}
	if _, err := filterTypes([]string{"alll"}); err == nil {
		t.Error("filterTypes(alll) succeeded, want an unknown type")
	}
}

// TestRouteOutsideEventsDrainsItsSpool: narrowing --events so that it
// leaves out a routed type is not refused: listen warns that no new event
// reaches that route, and the route still delivers what its spool held
// (found by review: refusing it blocked the recovery listen advises).
func TestRouteOutsideEventsDrainsItsSpool(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	def := newHook(t, nil)
	down := newHook(t, func(int) int { return http.StatusServiceUnavailable })
	base := filepath.Join(t.TempDir(), "narrow.spool")

	r := start(t, listenArgs(srv, wsID, def.URL, "--spool", base, "--route", "call="+down.URL, "--retry-wait-max", "20ms")...)
	r.waitConnected(t, srv, 1)
	srv.Publish("call", callEvent(1))
	down.waitRequests(t, 1, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("listen with --route call: %v", err)
	}

	up := newHook(t, nil)
	r = start(t, listenArgs(srv, wsID, def.URL, "--spool", base, "--route", "call="+up.URL, "--events", "sms")...)
	got := up.waitRequests(t, 1, 10*time.Second)
	if !bytes.Equal(got[0].body, callEvent(1)) {
		t.Errorf("the call route delivered %q, want the pending call event", got[0].body)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("listen with --events sms: %v", err)
	}
	line := logLine(t, r.stdout.String(), "--events leaves out a type that a --route takes")
	for _, want := range []string{"WARN", "type=call"} {
		mustContain(t, line, want)
	}
}

// TestListenWarnsOfUnusedDefaultSpool: a run with --forward-to leaves an
// event pending in the base spool; the next run with routes only (which
// never opens that file) warns at start, naming the file and how to
// deliver it, as it does for a route it no longer has. It said nothing,
// and the event waited unseen.
func TestListenWarnsOfUnusedDefaultSpool(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	down := newHook(t, func(int) int { return http.StatusServiceUnavailable })
	base := filepath.Join(t.TempDir(), "def.spool")

	r := start(t, listenArgs(srv, wsID, down.URL, "--spool", base, "--retry-wait-max", "20ms")...)
	r.waitConnected(t, srv, 1)
	srv.Publish("sms", dialpadtest.NewGenerator(3).SMS())
	down.waitRequests(t, 1, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("listen with --forward-to: %v", err)
	}

	calls := newHook(t, nil)
	r = start(t, "listen", "--api-base", srv.URL(), "--api-key", srv.APIKey(), "--websocket-id", strconv.FormatInt(wsID, 10),
		"--route", "call="+calls.URL, "--events", "call", "--spool", base)
	r.stdout.waitFor(t, "starting", 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("listen with routes only: %v", err)
	}
	line := logLine(t, r.stdout.String(), "file="+base+" ")
	for _, want := range []string{"WARN", "holds events this run does not deliver", "start listen with --forward-to URL again",
		"pending=1", "dead=0"} {
		mustContain(t, line, want)
	}
}

// TestNoSpoolWarnsOfEarlierSpool: a run with the spool leaves an event
// pending in the default spool of its sources, and one in a route's;
// the next run with --no-spool, which opens neither, warns of both at
// start, with how to deliver them. It said nothing.
func TestNoSpoolWarnsOfEarlierSpool(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	down := newHook(t, func(int) int { return http.StatusServiceUnavailable })
	r := start(t, listenArgs(srv, wsID, down.URL, "--route", "call="+down.URL, "--retry-wait-max", "20ms")...)
	r.waitConnected(t, srv, 1)
	srv.Publish("sms", dialpadtest.NewGenerator(3).SMS())
	srv.Publish("call", callEvent(1))
	down.waitRequests(t, 2, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("listen with the spool: %v", err)
	}

	up := newHook(t, nil)
	r = start(t, listenArgs(srv, wsID, up.URL, "--no-spool")...)
	r.stdout.waitFor(t, "starting", 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("listen --no-spool: %v", err)
	}
	out := r.stdout.String()
	name := "websocket-" + strconv.FormatInt(wsID, 10)
	for file, how := range map[string]string{name + ".spool ": "with --forward-to URL,", name + ".call.spool ": "with --route call=URL,"} {
		line := logLine(t, out, file)
		for _, want := range []string{"WARN", "holds events this --no-spool run does not deliver", "start listen without --no-spool", how, "pending=1"} {
			mustContain(t, line, want)
		}
	}
}

// TestRouteHeaderReplacesHeader: a --route-header naming a --header
// replaces it for the routes of its type: the call handler gets its own
// Authorization only, the default handler the shared one. (Both were
// sent to the call handler, the shared one first: a handler reading the
// first saw the other handler's credential, never its own.)
func TestRouteHeaderReplacesHeader(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	def := newHook(t, nil)
	calls := newHook(t, nil)
	r := start(t, listenArgs(srv, wsID, def.URL, "--no-spool", "--route", "call="+calls.URL,
		"--header", "Authorization: Bearer shared", "--header", "X-Trace: on",
		"--route-header", "call=Authorization: Bearer calls-1", "--route-header", "call=Authorization: Bearer calls-2")...)
	r.waitConnected(t, srv, 1)
	srv.Publish("call", callEvent(1))
	srv.Publish("sms", dialpadtest.NewGenerator(3).SMS())
	c := calls.waitRequests(t, 1, 10*time.Second)[0].header
	d := def.waitRequests(t, 1, 10*time.Second)[0].header
	if got := strings.Join(c.Values("Authorization"), ", "); got != "Bearer calls-1, Bearer calls-2" || c.Get("X-Trace") != "on" {
		t.Errorf("call route: Authorization %q, X-Trace %q; want its own two and the shared X-Trace", got, c.Get("X-Trace"))
	}
	if got := strings.Join(d.Values("Authorization"), ", "); got != "Bearer shared" {
		t.Errorf("default route: Authorization %q, want the shared one", got)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
}

// TestHeadersFromEnvironment: DIALPAD_TUNNEL_HEADERS and
// DIALPAD_TUNNEL_ROUTE_HEADERS give header values one a line, beside the
// typed ones, so that a token for the handler stays out of the process
// list (a value typed on the command line is in it, for every user of the
// host); a comma stays in its value. A line that is not a header is
// refused, named by its variable and line, its value not shown.
func TestHeadersFromEnvironment(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	def := newHook(t, nil)
	calls := newHook(t, nil)
	t.Setenv("DIALPAD_TUNNEL_HEADERS", "Authorization: Bearer from-env, with a comma\r\n\nX-Env: 2\n")
	t.Setenv("DIALPAD_TUNNEL_ROUTE_HEADERS", "call=Authorization: Bearer calls-env")
	r := start(t, listenArgs(srv, wsID, def.URL, "--no-spool", "--route", "call="+calls.URL, "--header", "X-Typed: 1")...)
	r.waitConnected(t, srv, 1)
	srv.Publish("call", callEvent(1))
	srv.Publish("sms", dialpadtest.NewGenerator(3).SMS())
	c := calls.waitRequests(t, 1, 10*time.Second)[0].header
	d := def.waitRequests(t, 1, 10*time.Second)[0].header
	if d.Get("Authorization") != "Bearer from-env, with a comma" || d.Get("X-Env") != "2" || d.Get("X-Typed") != "1" {
		t.Errorf("default route headers %v, want the variable's two lines and the typed one", d)
	}
	if got := strings.Join(c.Values("Authorization"), ", "); got != "Bearer calls-env" || c.Get("X-Env") != "2" {
		t.Errorf("call route: Authorization %q, X-Env %q; want its own from the variable and the shared X-Env", got, c.Get("X-Env"))
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}

	// A value with a control character is refused by the variable and
	// line too: it was refused as --header's, which was not given.
	for _, tc := range []struct{ env, lines, want string }{
		{"DIALPAD_TUNNEL_HEADERS", "X-Ok: 1\nsecret-token-no-colon", "DIALPAD_TUNNEL_HEADERS (line 2): want 'Name: value'"},
		{"DIALPAD_TUNNEL_ROUTE_HEADERS", "call=X-Ok: 1\nsecret-token-no-colon", "DIALPAD_TUNNEL_ROUTE_HEADERS (line 2): want TYPE=Name: value"},
		{"DIALPAD_TUNNEL_HEADERS", "X-Ok: 1\nX-Bad: secret-token\x01", "DIALPAD_TUNNEL_HEADERS (line 2): the value of X-Bad is not a valid header value"},
		{"DIALPAD_TUNNEL_ROUTE_HEADERS", "call=X-Bad: secret-token\rx", "DIALPAD_TUNNEL_ROUTE_HEADERS (line 1): the value of X-Bad is not a valid header value"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv("DIALPAD_TUNNEL_HEADERS", "")
			t.Setenv("DIALPAD_TUNNEL_ROUTE_HEADERS", "")
			t.Setenv(tc.env, tc.lines)
			r := start(t, listenArgs(srv, wsID, def.URL, "--no-spool")...)
			err := r.wait(t, 10*time.Second)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret-token") {
				t.Fatalf("listen ended with %v, want %q, the value not shown", err, tc.want)
			}
		})
	}
}

// TestTypedHeaderReplacesEnvironment: a header name given both with
// --header and in DIALPAD_TUNNEL_HEADERS is sent with the typed values
// only, as a typed flag replaces its variable's value (names compared as
// HTTP does, whatever their case); a name in one place only is kept, and
// a name typed twice is still sent twice. The same for --route-header and
// DIALPAD_TUNNEL_ROUTE_HEADERS, per type. (Both were sent, the variable's
// after the typed ones: a handler reading the first saw the typed one, one
// reading the last the variable's.)
func TestTypedHeaderReplacesEnvironment(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	def := newHook(t, nil)
	calls := newHook(t, nil)
	texts := newHook(t, nil)
	t.Setenv("DIALPAD_TUNNEL_HEADERS", "authorization: Bearer env\nX-Env-Only: 1\nX-Many: env")
	t.Setenv("DIALPAD_TUNNEL_ROUTE_HEADERS", "call=X-Route: env-call\ncall=X-Route-Env: 2\nsms=X-Route: env-sms")
	r := start(t, listenArgs(srv, wsID, def.URL, "--no-spool", "--route", "call="+calls.URL, "--route", "sms="+texts.URL,
		"--header", "Authorization: Bearer typed", "--header", "X-Many: a", "--header", "x-many: b",
		"--route-header", "call=x-route: typed-call")...)
	r.waitConnected(t, srv, 1)
	srv.Publish("call", callEvent(1))
	srv.Publish("sms", dialpadtest.NewGenerator(3).SMS())
	srv.Publish("changelog", []byte(`{"action":"updated_ivr","date":1}`))
	d := def.waitRequests(t, 1, 10*time.Second)[0].header
	c := calls.waitRequests(t, 1, 10*time.Second)[0].header
	s := texts.waitRequests(t, 1, 10*time.Second)[0].header
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		route, name string
		h           http.Header
		want        string
	}{
		{"default", "Authorization", d, "Bearer typed"},
		{"default", "X-Env-Only", d, "1"},
		{"default", "X-Many", d, "a, b"},
		{"call", "Authorization", c, "Bearer typed"},
		{"call", "X-Route", c, "typed-call"},
		{"call", "X-Route-Env", c, "2"},
		{"sms", "X-Route", s, "env-sms"},
		{"sms", "X-Many", s, "a, b"},
	} {
		if got := strings.Join(tc.h.Values(tc.name), ", "); got != tc.want {
			t.Errorf("%s route: %s %q, want %q", tc.route, tc.name, got, tc.want)
		}
	}
}

// TestStatusNamesRouteSpools: `status` without --route reports the base
// spool's dead letters; with --route spools beside it, it says on stderr
// which they are and what they hold, as `events list` does, running or
// not. It printed "failed 1 … dead letters 0" and nothing more for a dead
// letter in a route's spool.
func TestStatusNamesRouteSpools(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	def := newHook(t, nil)
	texts := newHook(t, func(int) int { return http.StatusBadRequest })
	path := filepath.Join(t.TempDir(), "s.spool")
	r := start(t, listenArgs(srv, wsID, def.URL, "--spool", path, "--route", "sms="+texts.URL)...)
	r.waitConnected(t, srv, 1)
	srv.Publish("sms", dialpadtest.NewGenerator(3).SMS())
	r.stdout.waitFor(t, "FAILED sms", 10*time.Second)

	smsFile := filepath.Join(filepath.Dir(path), "s.sms.spool")
	check := func(when string, wantCode int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			stdout, stderr, err := cliErr(t, "status", "--spool", path)
			if exitCode(err) == wantCode && strings.Contains(stderr, "0 pending, 1 dead, 0 delivered") {
				mustContain(t, logLine(t, stderr, smsFile), "--route sms")
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("status %s: %v\nstdout:\n%s\nstderr:\n%s\nwant exit %d and a note of the sms route's spool with its dead letter", when, err, stdout, stderr, wantCode)
			}
			<-time.After(20 * time.Millisecond) // polls a condition with a deadline
		}
	}
	check("while listen runs", 0)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	check("with no listen", 1)
}
