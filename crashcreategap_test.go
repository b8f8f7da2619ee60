package main

import (
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestListenCreateInterruptedMidCreate: a `listen --create` run stopped
// with Ctrl-C while Dialpad creates its websocket or a subscription
// (made, the answer not sent) deletes what it knows of; the next run, with
// or without --no-spool, logs no gap for that run, as none of its
// subscriptions outlived it: deleting its websocket deleted a subscription
// cut off mid-create, and a websocket cut off so has none. A websocket
// that may exist is still warned of. The next run used to log a gap
// ("no agent was running") and say the run had crashed or failed to clean
// up.
func TestListenCreateInterruptedMidCreate(t *testing.T) {
	bin := buildAgent(t)
	for _, tc := range []struct {
		name, path string
		wsLeft     int    // on the fake once the first run stopped
		warn       string // the next run's warning, if any
	}{
		{name: "subscription", path: "/api/v2/subscriptions/sms"},
		{name: "websocket", path: "/api/v2/websockets", wsLeft: 1, warn: "a websocket may exist on Dialpad that no record names"},
	} {
		for _, mode := range [][]string{nil, {"--no-spool"}} {
			t.Run(tc.name+strings.Join(mode, ""), func(t *testing.T) {
				t.Setenv("XDG_STATE_HOME", t.TempDir())
				srv := newFake(t, dialpadtest.Config{})
				h := newHook(t, nil)
				args := createArgs(srv, h.URL, append([]string{"--events", "sms", "--log-format", "json"}, mode...)...)
				done, release := srv.HoldNextAnswer(http.MethodPost, tc.path)
				defer release()
				first := startAgent(t, bin, args...)
				waitHeld(t, first, done)
				if err := first.signal(t, syscall.SIGINT); err == nil {
					t.Fatalf("first run stopped mid-create: exit 0; want an error\n%s", first.stdout.String())
				}
				if ws, subs := counts(t, srv); ws != tc.wsLeft || subs != 0 {
					t.Fatalf("after the first run the fake has %d websockets, %d subscriptions; want %d and 0", ws, subs, tc.wsLeft)
				}

				second := startAgent(t, bin, args...)
				second.waitConnected(t, srv)
				if err := second.signal(t, syscall.SIGTERM); err != nil {
					t.Fatalf("second run: %v", err)
				}
				out := second.stdout.String()
				if _, ok := restartGap(out); ok || strings.Contains(out, `"gaps":`) {
					t.Errorf("the run after one stopped mid-create logged a gap, though nothing of that run took events:\n%s", out)
				}
				if strings.Contains(out, "did not delete what it made") {
					t.Errorf("the run after one that deleted what it made says it did not:\n%s", out)
				}
				if tc.warn != "" {
					mustContain(t, out, tc.warn)
				}
			})
		}
	}
}
