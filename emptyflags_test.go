package main

import (
	"path/filepath"
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
	} {
		last := len(tc.args) - 1
		for _, args := range [][]string{append(tc.args[:last:last], tc.args[last], ""), append(tc.args[:last:last], tc.args[last]+"=")} {
			r := start(t, args...)
			if err := r.wait(t, 10*time.Second); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("%q: error %v, want %q", args, err, tc.want)
			}
		}
	}
	if calls := srv.RESTCalls(); len(calls) != 0 {
		t.Errorf("empty flag values made %d REST calls: %v", len(calls), calls)
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
