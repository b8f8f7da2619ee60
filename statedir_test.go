package main

import (
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestNoStateDirectoryAdvice: with no state directory (neither
// XDG_STATE_HOME nor HOME), each command that keeps a file there says how
// to give one, with the flag that command has.
func TestNoStateDirectoryAdvice(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	cfg := writeFile(t, t.TempDir(), "ok.yaml", "websocket: {}\nsubscriptions:\n  - type: changelog\n")
	const advice = "no state directory: set XDG_STATE_HOME or HOME, or pass "
	for _, xdg := range []string{""} {
		t.Setenv("XDG_STATE_HOME", xdg)
		t.Setenv("HOME", "")
		for _, tc := range []struct {
			args []string
			want string
		}{
			{listenArgs(srv, wsID, "http://127.0.0.1:1/hook"), advice + "--spool"},
			{[]string{"events", "list"}, advice + "--spool"},
			{append([]string{"events", "list", "--websocket-id", "1"}, apiArgs(srv)...), advice + "--spool"},
			{append([]string{"setup", "--config", cfg}, apiArgs(srv)...), advice + "--state"},
			{append([]string{"migrate", "--rollback"}, apiArgs(srv)...), advice + "--record"},
		} {
			r := start(t, tc.args...)
			if err := r.wait(t, 10*time.Second); err == nil || err.Error() != tc.want {
				t.Errorf("XDG_STATE_HOME=%q %v: error %v, want %q", xdg, tc.args, err, tc.want)
			}
		}
	}
	if calls := srv.RESTCalls(); len(calls) != 0 {
		t.Errorf("made %d REST calls without a state directory: %v", len(calls), calls)
	}
}

// TestEventsHelpSaysWhatRunsBesideListen: events --help says which
// subcommands work while listen runs (purge too) and that salvage needs it
// stopped.
func TestEventsHelpSaysWhatRunsBesideListen(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"events", "--help"}, "list, show, replay, purge or salvage the events in a spool (all but salvage also while listen runs; salvage needs listen stopped)"},
		{[]string{"events", "--help"}, "salvage  keep every intact part of a damaged spool; the file as it was is kept next to it (stop listen first)"},
		{[]string{"events", "salvage", "--help"}, "(stop listen first)"},
	} {
		out, err := runCmd(t, tc.args...)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if !strings.Contains(out, tc.want) {
			t.Errorf("%v printed no %q:\n%s", tc.args, tc.want, out)
		}
	}
}
