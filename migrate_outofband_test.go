package main

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/migrate"
)

// TestMigrateRollbackAfterWebsocketDeleted: the websocket migrate made
// was deleted on Dialpad before `--rollback`, and with it the
// subscriptions on it (as the fake does). The rollback names each
// subscription as gone with the command that makes it anew (which, run
// as printed, does), says the websocket is already gone, retires the
// record (nothing more can be undone) and exits non-zero. It used to
// say it kept the websocket, tell the user to fix the cause and run it
// again, which failed the same way every time, with the record blocking
// `migrate`.
func TestMigrateRollbackAfterWebsocketDeleted(t *testing.T) {
	srv, wh, sms, call, record, _ := migrated(t)
	c := testClient(t, srv)
	ctx := context.Background()
	rec, err := migrate.LoadRecord(record)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteWebsocket(ctx, rec.WebsocketID); err != nil {
		t.Fatal(err)
	}
	out, err := apiCmd(t, srv, "migrate", "--rollback", "--record", record)
	if err == nil || !strings.Contains(err.Error(), "2 subscription(s) of the record are gone from Dialpad (deleted since the migration) and could not be restored") ||
		!strings.Contains(err.Error(), "the record is moved to "+record+".rolled-back, as nothing more can be undone") {
		t.Errorf("rollback after the websocket was deleted: %v", err)
	}
	mustContain(t, out, "websocket "+rec.WebsocketID.String()+" is already gone")
	if strings.Contains(out, "kept websocket") {
		t.Errorf("says it kept a websocket that is gone:\n%s", out)
	}
	if _, err := os.Stat(record + ".rolled-back"); err != nil {
		t.Errorf("record not retired: %v", err)
	}
	cmds := regexp.MustCompile("(?m)^gone     (\\w+) subscription (\\d+): deleted on Dialpad since the migration; make it anew on webhook (\\d+) with\n +`([^`]*)`$").FindAllStringSubmatch(out, -1)
	if len(cmds) != 2 {
		t.Fatalf("want a gone line with a command for each of sms %d and call %d:\n%s", sms, call, out)
	}
	for _, m := range cmds {
		if m[3] != strconv.FormatInt(wh, 10) {
			t.Errorf("%s subscription to be made on webhook %s, want %d", m[1], m[3], wh)
		}
		var before migrate.Snapshot
		for _, s := range rec.Subscriptions {
			if s.ID.String() == m[2] {
				before = s
			}
		}
		args := append(strings.Fields(strings.TrimPrefix(m[4], "dialpad-tunnel ")), "--api-key", srv.APIKey())
		if _, err := runCmd(t, args...); err != nil {
			t.Fatalf("the printed %q: %v", m[4], err)
		}
		subs, err := c.ListSubscriptions(ctx, before.Type)
		if err != nil || len(subs) != 1 {
			t.Fatalf("%s subscriptions after the printed command: %v, %v", before.Type, subs, err)
		}
		made := migrate.SnapshotOf(before.Type, subs[0])
		made.ID = before.ID
		if d := before.Differences(made); len(d) > 0 {
			t.Errorf("the printed command made %s with %v", before, d)
		}
	}
}

// TestMigrateRollbackStoppedMidway: a rollback stopped midway (one
// subscription moved back, or all and the websocket deleted, but the
// record not retired) is finished by `--rollback` run again, which moves
// back only what is left and does not take the gone websocket for an error.
func TestMigrateRollbackStoppedMidway(t *testing.T) {
	srv, wh, sms, _, record, _ := migrated(t)
	c := testClient(t, srv)
	ctx := context.Background()
	back := dialpad.ID(wh)
	if _, err := c.UpdateSubscription(ctx, dialpad.SMS, dialpad.ID(sms), dialpad.SubscriptionRequest{EndpointID: &back}); err != nil {
		t.Fatal(err)
	}
	out := mustAPI(t, srv, "migrate", "--rollback", "--record", record)
	mustContain(t, out, "restored 1 subscription(s); all 2 match the record")
	mustContain(t, out, "deleted websocket")
	// As if killed after the delete, before the record was retired.
	if err := os.Rename(record+".rolled-back", record); err != nil {
		t.Fatal(err)
	}
	out = mustAPI(t, srv, "migrate", "--rollback", "--record", record)
	mustContain(t, out, "restored 0 subscription(s); all 2 match the record")
	mustContain(t, out, "is already gone")
	mustContain(t, out, "record moved to "+record+".rolled-back")
	if ws, subs := counts(t, srv); ws != 0 || subs != 2 {
		t.Errorf("the fake has %d websockets and %d subscriptions, want 0 and the 2 on the webhook", ws, subs)
	}
}
