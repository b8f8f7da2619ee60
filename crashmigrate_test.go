package main

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/migrate"
)

// TestMigrateKilled: `migrate` killed with SIGKILL while Dialpad answers
// its websocket create (the websocket exists, the answer never comes), or
// while it re-points a subscription, leaves a rollback record, and
// `--rollback` then leaves every subscription as it was. A kill during
// the create used to leave no record at all: the websocket it made was
// known to no one, and nothing said so.
func TestMigrateKilled(t *testing.T) {
	bin := buildAgent(t)
	for _, tc := range []struct {
		name      string
		hold      func(sms int64) (method, path string)
		wantOut   []string // in the rollback's output
		wantWSAft int      // websockets left on the fake after the rollback
	}{
		{
			name: "during the websocket create",
			hold: func(int64) (string, string) { return http.MethodPost, "/api/v2/websockets" },
			wantOut: []string{
				"it was stopped while creating a websocket, before Dialpad answered, so no subscription moved",
				"note: a websocket may have been created on Dialpad that no record names",
				"find it with `dialpad-tunnel websockets list --api-base ",
				"delete it with `dialpad-tunnel websockets delete ID --api-base ",
			},
			wantWSAft: 1, // the orphan, named to the user, not guessed at
		},
		{
			name: "while re-pointing subscriptions",
			hold: func(sms int64) (string, string) {
				return http.MethodPatch, "/api/v2/subscriptions/sms/" + strconv.FormatInt(sms, 10)
			},
			wantOut: []string{"all 2 match the record", "deleted websocket"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t, dialpadtest.Config{})
			wh := srv.AddWebhook("https://example.com/hook", "sec")
			if _, err := srv.AddSubscription("call", wh, dialpadtest.SubscriptionOptions{}); err != nil {
				t.Fatal(err)
			}
			sms, err := srv.AddSubscription("sms", wh, dialpadtest.SubscriptionOptions{Direction: "inbound"})
			if err != nil {
				t.Fatal(err)
			}
			client := testClient(t, srv)
			before := allSubscriptions(t, client)
			record := filepath.Join(t.TempDir(), "migration.json")
			reached, release := srv.HoldNextAnswer(tc.hold(sms))
			defer release()
			p := startAgent(t, bin, "migrate", "--from-webhook", strconv.FormatInt(wh, 10), "--record", record,
				"--api-base", srv.URL(), "--api-key", srv.APIKey())
			select {
			case <-reached:
			case err := <-p.exited:
				p.exited <- err
				t.Fatalf("migrate exited (%v) before the held request", err)
			case <-time.After(30 * time.Second):
				t.Fatal("the held request never reached the fake")
			}
			var exit *exec.ExitError
			if err := p.signal(t, syscall.SIGKILL); !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("migrate's exit = %v, want killed by SIGKILL", err)
			}
			rec, err := migrate.LoadRecord(record)
			if err != nil {
				t.Fatalf("after the kill: %v; want a rollback record", err)
			}
			if ws, _ := counts(t, srv); ws != 1 {
				t.Fatalf("%d websockets on the fake after the kill, want the one migrate created", ws)
			}
			out, err := apiCmd(t, srv, "migrate", "--rollback", "--record", record)
			if err != nil {
				t.Fatalf("rollback: %v\n%s", err, out)
			}
			for _, want := range tc.wantOut {
				mustContain(t, out, want)
			}
			if after := allSubscriptions(t, client); after != before {
				t.Errorf("subscriptions after the rollback differ:\nbefore %s\nafter  %s", before, after)
			}
			if ws, _ := counts(t, srv); ws != tc.wantWSAft {
				t.Errorf("%d websockets after the rollback, want %d", ws, tc.wantWSAft)
			}
			if _, err := os.Stat(record + ".rolled-back"); err != nil {
				t.Errorf("record not retired: %v", err)
			}
			if rec.CreateUnanswered() != strings.Contains(tc.name, "create") {
				t.Errorf("record %+v: CreateUnanswered %v", rec, rec.CreateUnanswered())
			}
		})
	}
}
