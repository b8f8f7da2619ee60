package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestStopOnStatusConfigurable: a 403 while fetching a fresh websocket_url
// (after a dropped connection, as at every rotation) stops listen by
// default, as 401 and 404 do. That Dialpad throttles with 429 and not 403
// (as Google-style APIs may, with a rate-limit reason) is inferred, so
// --stop-on-status can leave 403 out: listen then retries with the
// reconnect backoff, connects again, and delivers the events that follow;
// its warning says what the 403 most likely means.
func TestStopOnStatusConfigurable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
		stops bool
	}{
		{"default stops", nil, true},
		{"403 left out retries", []string{"--stop-on-status", "401,404"}, false},
		{"none retries", []string{"--stop-on-status", "none"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
			h := newHook(t, nil)
			args := append([]string{"--no-spool", "--reconnect-wait-min", "10ms", "--reconnect-wait-max", "50ms"}, tc.extra...)
			r := start(t, listenArgs(srv, wsID, h.URL, args...)...)
			r.waitConnected(t, srv, 1)

			srv.FailNextREST(1, http.StatusForbidden, 0)
			srv.DropConnections(1001, "going away")
			if tc.stops {
				err := r.wait(t, 10*time.Second)
				if err == nil || !strings.Contains(err.Error(), "403") {
					t.Fatalf("listen ended with %v, want the 403", err)
				}
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.WaitHandshakes(ctx, 2); err != nil {
				t.Fatalf("no new connection after the 403: %v\n%s", err, r.stdout.String())
			}
			r.waitConnected(t, srv, 1)
			ev := dialpadtest.NewGenerator(3).SMS()
			srv.Publish("sms", ev)
			if got := h.waitRequests(t, 1, 10*time.Second); !bytes.Equal(got[0].body, ev) {
				t.Fatalf("handler got %q, want the SMS", got[0].body)
			}
			mustContain(t, r.stdout.String(), "403")
			// Each retry says what the refusal most likely means: a plain
			// "connect failed" would read as passing, without end.
			mustContain(t, r.stdout.String(), "may not be allowed to read this websocket or subscription; retried, since --stop-on-status leaves this status out")
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}
		})
	}
}
