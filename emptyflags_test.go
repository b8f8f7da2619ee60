package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestEmptyFlagValuesRefused: a flag whose empty value means nothing
// sensible is refused, before any REST call or file, when given empty
// (an empty argument, or --flag=): it was taken for "not given", so `--spool
// "$SPOOL"` with SPOOL unset used the default spool without a word
// (found by a black-box review).
func TestEmptyFlagValuesRefused(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	const hook = "http://127.0.0.1:1/hook"
	spool := filepath.Join(t.TempDir(), "events.spool")
	listen := func(extra ...string) []string { return listenArgs(srv, wsID, hook, extra...) }
	api := []string{"--api-base", srv.URL(), "--api-key", srv.APIKey()}
	for _, tc := range []struct {
		args []string // the last is the empty flag's name, given empty
		want string
	}{
		{listen("--spool"), "--spool is empty: give a path, or leave the flag out for the default"},
		{createArgs(srv, hook, "--events", "call", "--spool"), "--spool is empty: give a path, or leave the flag out for the default"},
		{listen("--content-type-json"), "--content-type-json is empty: give a Content-Type, or leave the flag out for application/json"},
		{listen("--content-type-jwt"), "--content-type-jwt is empty: give a Content-Type, or leave the flag out for application/jwt"},
		{listen("--user-agent"), "--user-agent is empty: give a User-Agent, or leave the flag out for dialpad-tunnel/"},
		{[]string{"listen", "--api-base", srv.URL(), "--api-key", srv.APIKey(), "--websocket-id", "1", "--route", "call=" + hook, "--events", "call", "--forward-to"}, "--forward-to is empty: give your handler's URL, or leave the flag out when --route gives"},
		{[]string{"listen", "--api-key", srv.APIKey(), "--websocket-id", "1", "--forward-to", hook, "--api-base"}, "--api-base is empty: give the API base URL, or leave the flag out for the one --env picks"},
		{[]string{"websockets", "list", "--api-key", srv.APIKey(), "--api-base"}, "--api-base is empty"},
		{[]string{"events", "list", "--spool"}, "--spool is empty: give a path, or leave the flag out for the default"},
		{[]string{"events", "show", "--spool", spool, "x", "--route"}, "--route is empty: give a route's name"},
		{[]string{"events", "replay", "--spool", spool, "--dead", "--since"}, "--since is empty: give an RFC 3339 time or a duration ago (1h), or leave the flag out"},
		{[]string{"events", "salvage", "--spool"}, "--spool is empty"},
		{append([]string{"setup", "--dry-run"}, append(api, "--config")...), "--config is empty: give the setup file (YAML, see examples/setup.yaml)"},
		{append([]string{"setup", "--config", "examples/setup.yaml"}, append(api, "--state")...), "--state is empty: give a path, or leave the flag out for the default"},
		{append([]string{"migrate", "--rollback"}, append(api, "--record")...), "--record is empty: give a path, or leave the flag out for the default"},
		{append([]string{"doctor"}, append(api, "--forward-to")...), "--forward-to is empty: give the handler URL to check, or leave the flag out to check no handler"},
		// An empty websocket secret made an unsigned websocket without a word.
		{createArgs(srv, hook, "--events", "call", "--secret"), noSecretTyped},
		{append([]string{"websockets", "create"}, append(api, "--secret")...), noSecretTyped},
	} {
		last := len(tc.args) - 1
		for _, args := range [][]string{append(tc.args[:last:last], tc.args[last], ""), append(tc.args[:last:last], tc.args[last]+"=")} {
			r := start(t, args...)
			if err := r.wait(t, 10*time.Second); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("%q: error %v, want %q", args, err, tc.want)
			}
		}
	}
	t.Setenv("DIALPAD_WEBSOCKET_SECRET", "set")
	if _, err := runCLI(t, append([]string{"websockets", "create", "--secret", ""}, api...)...); err == nil || err.Error() != noSecretTyped {
		t.Errorf("--secret '' with DIALPAD_WEBSOCKET_SECRET set: error %v, want %q", err, noSecretTyped)
	}
	if calls := srv.RESTCalls(); len(calls) != 0 {
		t.Errorf("empty flag values made %d REST calls: %v", len(calls), calls)
	}
}

// noSecret is the refusal of an empty --secret where it creates a
// websocket, DIALPAD_WEBSOCKET_SECRET empty; noSecretTyped with the
// variable unset or set (then the empty value came from the flag, and the
// variable is not named: it was, and not to blame).
const (
	noSecret      = "--secret is empty (given as --secret= or by an empty DIALPAD_WEBSOCKET_SECRET): give the secret, or leave both out for a websocket whose events are not signed"
	noSecretTyped = "--secret is empty: give the secret, or leave the flag out for a websocket whose events are not signed"
)

// TestEmptyWebsocketSecretEnv: an empty DIALPAD_WEBSOCKET_SECRET (a
// `--secret "$MY_SECRET"` or a service file with it unset) is refused
// where a websocket would be created or its secret replaced, before any
// REST call: it made an unsigned websocket, whose events a verifying
// handler refuses, without a word (found by a black-box review). A typed
// `websockets update --secret ”` still removes the secret, and a listen
// without --create, which does not use the variable, still runs.
func TestEmptyWebsocketSecretEnv(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	const hook = "http://127.0.0.1:1/hook"
	api := []string{"--api-base", srv.URL(), "--api-key", srv.APIKey()}
	id := strconv.FormatInt(wsID, 10)
	t.Setenv("DIALPAD_WEBSOCKET_SECRET", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{createArgs(srv, hook, "--events", "call"), noSecret},
		{append([]string{"websockets", "create"}, api...), noSecret},
		{append(append([]string{"websockets", "update"}, api...), id),
			"websockets update: DIALPAD_WEBSOCKET_SECRET (for --secret) is empty: set it to the secret, or pass --secret '' to remove the websocket's secret"},
	} {
		if _, err := runCLI(t, tc.args...); err == nil || err.Error() != tc.want {
			t.Errorf("%q: error %v, want %q", tc.args, err, tc.want)
		}
	}
	if calls := srv.RESTCalls(); len(calls) != 0 {
		t.Errorf("an empty DIALPAD_WEBSOCKET_SECRET made %d REST calls: %v", len(calls), calls)
	}
	mustCLI(t, append(append([]string{"websockets", "update"}, api...), "--secret", "", id)...)

	r := start(t, listenArgs(srv, wsID, hook, "--spool", filepath.Join(t.TempDir(), "ev.spool"))...)
	r.waitConnected(t, srv, 1)
	if err := r.stop(t); err != nil {
		t.Errorf("listen without --create, DIALPAD_WEBSOCKET_SECRET empty: %v, want it to run", err)
	}
}

// TestEmptyEnvRefused: an empty environment variable reads as the empty
// flag, and the error names both. (listen's flags are made anew for each
// run; the events commands' are shared, and would keep the variable's
// value for the tests after this one.)
func TestEmptyEnvRefused(t *testing.T) {
	listen := []string{"listen", "--api-key", "k", "--websocket-id", "1", "--forward-to", "http://127.0.0.1:1/hook"}
	t.Setenv("DIALPAD_TUNNEL_SPOOL", "")
	_, err := runCLI(t, listen...)
	if want := "--spool is empty (given as --spool= or by an empty DIALPAD_TUNNEL_SPOOL): give a path, or leave both out for the default"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	t.Setenv("DIALPAD_TUNNEL_SPOOL", "set.spool") // --spool '' given: the variable is not to blame
	_, err = runCLI(t, append(listen, "--spool", "")...)
	if want := "--spool is empty: give a path, or leave the flag out for the default"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}
