package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/urfave/cli/v2"
)

// TestDoctor prints a checklist with a fix for each failure and exits 1
// when a check fails.
func TestDoctor(t *testing.T) {
	for _, tc := range []struct {
		name     string
		badKey   bool
		noHook   bool
		noSubs   bool
		wantFail bool
		want     []string
	}{
		{name: "all good", want: []string{"[ok  ] API key: accepted", "[ok  ] call subscriptions: may list (1) and create",
			"[ok  ] contact subscriptions: may list (0); creating needs a company-admin API key",
			"[ok  ] websocket host: ws://127.0.0.1", "reachable directly", "[ok  ] clock: within",
			"gets the events of enabled subscriptions: call 1", "[ok  ] forward target", "all checks passed"}},
		// Every other check passes, and listen would receive nothing.
		{name: "no subscription", noSubs: true, want: []string{"[warn] events for the websocket: no enabled subscription sends its events to websocket",
			"listen connects and receives nothing", "fix: create one: `dialpad-tunnel subscriptions create --type call --endpoint-id"}},
		{name: "bad key", badKey: true, wantFail: true, want: []string{"[FAIL] API key: dialpad: list websockets: 401",
			"fix: set DIALPAD_API_KEY", "[skip] websocket host"}},
		{name: "handler down", noHook: true, wantFail: true, want: []string{"[FAIL] forward target", "connection refused", "fix: start your webhook handler"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t, dialpadtest.Config{})
			ws := srv.AddWebsocket("s")
			if !tc.noSubs {
				if _, err := srv.AddSubscription("call", ws, dialpadtest.SubscriptionOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			h := newHook(t, nil)
			target := h.URL
			if tc.noHook {
				h.Close()
			}
			args := append([]string{"doctor"}, apiArgs(srv)...)
			if tc.badKey {
				args[4] = "wrong-key-0123456789"
			}
			out, err := runCmd(t, append(args, "--forward-to", target)...)
			var ec cli.ExitCoder
			if tc.wantFail != (err != nil) || (err != nil && (!errors.As(err, &ec) || ec.ExitCode() != 1)) {
				t.Fatalf("error %v, want failure=%v with exit code 1\n%s", err, tc.wantFail, out)
			}
			for _, w := range tc.want {
				mustContain(t, out, w)
			}
			if strings.Contains(out, "/events/ey") || strings.Contains(out, srv.APIKey()) {
				t.Errorf("doctor printed a token or the key:\n%s", out)
			}
		})
	}
}

// TestDoctorRefusesBadHandlerURL: a --forward-to that listen would refuse
// (not http or https, a port out of range) is refused as listen refuses
// it, not reported as a handler to start (found by a black-box review).
func TestDoctorRefusesBadHandlerURL(t *testing.T) {
	srv, _ := fakeDialpad(t, dialpadtest.Config{}, "")
	for to, want := range map[string]string{
		"ftp://127.0.0.1/hook":        "--forward-to: not an absolute http or https URL",
		"http://127.0.0.1:99999/hook": "--forward-to: port 99999: want 1 to 65535",
	} {
		_, err := runCmd(t, "doctor", "--api-base", srv.URL(), "--api-key", srv.APIKey(), "--forward-to", to)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("doctor --forward-to %s: %v, want %q", to, err, want)
		}
	}
	if calls := srv.RESTCalls(); len(calls) != 0 {
		t.Errorf("a bad --forward-to made %d REST calls: %v", len(calls), calls)
	}
}

// TestDoctorRefusesBadWebsocketID: a --websocket-id that is not positive
// is refused before any REST call, as listen refuses it; -5 used to be
// asked of Dialpad (a 404 naming the API, not the flag) and 0 silently
// meant "the first one listed".
func TestDoctorRefusesBadWebsocketID(t *testing.T) {
	srv, _ := fakeDialpad(t, dialpadtest.Config{}, "")
	for _, id := range []string{"-5", "0"} {
		_, err := runCmd(t, "doctor", "--api-base", srv.URL(), "--api-key", srv.APIKey(), "--websocket-id", id)
		want := "--websocket-id " + id + ": want a positive id (see `websockets list`), or leave it out to check the first one listed"
		if err == nil || err.Error() != want {
			t.Errorf("doctor --websocket-id %s: %v, want %q", id, err, want)
		}
	}
	if calls := srv.RESTCalls(); len(calls) != 0 {
		t.Errorf("a bad --websocket-id made %d REST calls: %v", len(calls), calls)
	}
}

// TestDoctorUnknownWebsocketFix: a websocket that cannot be read is
// failed with a fix that names where its id came from: the variable when
// DIALPAD_WEBSOCKET_ID gave it (the fix said --websocket-id, which the user
// never typed).
func TestDoctorUnknownWebsocketFix(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	srv.AddWebsocket("s")
	for _, tc := range []struct{ env, flag, want string }{
		{"", "999", "fix: check --websocket-id; `dialpad-tunnel websockets list --api-base " + srv.URL() + "` lists the ids"},
		{"999", "", "fix: check DIALPAD_WEBSOCKET_ID (for --websocket-id); `dialpad-tunnel websockets list --api-base " + srv.URL() + "` lists the ids"},
	} {
		t.Setenv("DIALPAD_WEBSOCKET_ID", tc.env)
		args := append([]string{"doctor"}, apiArgs(srv)...)
		if tc.flag != "" {
			args = append(args, "--websocket-id", tc.flag)
		}
		out, err := runCmd(t, args...)
		if err == nil {
			t.Fatalf("doctor on websocket 999: no failure\n%s", out)
		}
		mustContain(t, out, "[FAIL] websocket host")
		mustContain(t, out, tc.want)
	}
}

// TestDoctorWarnsOnHandlerNotFound: a forward target that answers 404 (a
// wrong path, most likely: every event POSTed there would be a dead
// letter) is a warning with a fix, not "ok" (found by a review: any
// answer passed). It is no failure: a handler that routes only POST may
// answer HEAD so.
func TestDoctorWarnsOnHandlerNotFound(t *testing.T) {
	srv, _ := fakeDialpad(t, dialpadtest.Config{}, "")
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	out, err := runCmd(t, "doctor", "--api-base", srv.URL(), "--api-key", srv.APIKey(), "--forward-to", notFound.URL+"/webhoks")
	if err != nil {
		t.Fatalf("doctor with a handler answering 404: %v, want warnings only\n%s", err, out)
	}
	mustContain(t, out, "[warn] forward target: "+notFound.URL+"/webhoks answers (HEAD: 404 Not Found)")
	mustContain(t, out, "fix: check the path of --forward-to")
}
