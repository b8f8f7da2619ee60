package migrate_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/migrate"
)

// TestRollbackLeavesRePointedSubscriptions: a subscription someone moved to
// another websocket after the migration is left there and reported, the
// others are restored, and the websocket the migration created is kept
// (found by a black-box review: rollback moved a live subscription off its
// websocket to the webhook).
func TestRollbackLeavesRePointedSubscriptions(t *testing.T) {
	srv, c := newFake(t)
	wh := srv.AddWebhook("https://example.com/hook", "sec")
	sms, _ := srv.AddSubscription("sms", wh, dialpadtest.SubscriptionOptions{Direction: "all"})
	call, _ := srv.AddSubscription("call", wh, dialpadtest.SubscriptionOptions{})
	live := dialpad.ID(srv.AddWebsocket("other"))
	m, err := migrate.New(migrate.Config{Client: c, APIBase: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := m.Plan(ctx, dialpad.ID(wh), 0)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := m.Apply(ctx, p, func(migrate.Record) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if rec.APIBase != srv.URL() || !rec.WebsocketCreated {
		t.Fatalf("record %+v: want api_base %s and websocket_created", rec, srv.URL())
	}
	if _, err := c.UpdateSubscription(ctx, dialpad.SMS, dialpad.ID(sms), dialpad.SubscriptionRequest{EndpointID: &live}); err != nil {
		t.Fatal(err)
	}
	res, err := m.Rollback(ctx, rec)
	want := "sms subscription " + dialpad.ID(sms).String() + " delivers to websocket " + live.String() + ", not to websocket " + rec.WebsocketID.String() + " the migration set: left as it is"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("rollback error %v, want %q", err, want)
	}
	if len(res.Skipped) != 1 || res.Skipped[0].ID != dialpad.ID(sms) || res.Skipped[0].Now != "websocket "+live.String() {
		t.Errorf("skipped %+v, want the sms subscription on websocket %s", res.Skipped, live)
	}
	if len(res.Restored) != 1 || res.Restored[0].ID != dialpad.ID(call) {
		t.Errorf("restored %+v, want the call subscription", res.Restored)
	}
	if res.WebsocketDeleted {
		t.Error("the websocket was deleted while a subscription of the record is not back")
	}
	if s, _ := c.Subscription(ctx, dialpad.SMS, dialpad.ID(sms)); s.Endpoint() != "websocket "+live.String() {
		t.Errorf("sms subscription now on %s, want it left on websocket %s", s.Endpoint(), live)
	}
	if s, _ := c.Subscription(ctx, dialpad.Call, dialpad.ID(call)); s.Endpoint() != "webhook "+dialpad.ID(wh).String() {
		t.Errorf("call subscription now on %s, want webhook %d", s.Endpoint(), wh)
	}
	if _, err := c.Websocket(ctx, rec.WebsocketID); err != nil {
		t.Errorf("websocket %s: %v, want it kept", rec.WebsocketID, err)
	}
}

// TestRollbackRefusesAnotherAPI: a record of another API, or of none, is
// refused before any REST call, naming both APIs.
func TestRollbackRefusesAnotherAPI(t *testing.T) {
	srv, c := newFake(t)
	m, err := migrate.New(migrate.Config{Client: c, APIBase: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	rec := migrate.Record{Version: 1, APIBase: "https://sandbox.dialpad.com", WebhookID: 1, WebsocketID: 2, WebsocketCreated: true,
		Subscriptions: []migrate.Snapshot{{Type: dialpad.SMS, ID: 3, EndpointID: 1}}}
	_, err = m.Rollback(context.Background(), rec)
	if want := "belongs to https://sandbox.dialpad.com, not " + srv.URL(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("rollback of another API's record: %v, want %q", err, want)
	}
	// The same API written another way, as the client takes it, is the
	// same API: it was refused as another one.
	for _, base := range []string{srv.URL() + "/", srv.URL() + "/api/v2", strings.ToUpper(srv.URL()) + "/api/v2/"} {
		if err := m.CheckRecord(migrate.Record{Version: 1, APIBase: base, WebhookID: 1}); err != nil {
			t.Errorf("record of %s: %v, want it taken as %s's", base, err, srv.URL())
		}
	}
	rec.APIBase = ""
	if _, err := m.Rollback(context.Background(), rec); !errors.Is(err, migrate.ErrNoAPIBase) {
		t.Errorf("rollback of a record without api_base: %v, want ErrNoAPIBase", err)
	}
	if n := len(srv.RESTCalls()); n != 0 {
		t.Errorf("%d REST calls, want none", n)
	}
	if _, err := migrate.New(migrate.Config{Client: c}); err == nil {
		t.Error("New without APIBase: no error")
	}
}

// TestSaveRecordNotThroughPlantedLink: a --record in a folder others may
// write to, with a symbolic link another user put at `<record>.tmp`: the
// record is written, and the file the link leads to is not (it was
// written through, then the link renamed over the record).
func TestSaveRecordNotThroughPlantedLink(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "migration.json")
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("untouched"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, path+".tmp"); err != nil {
		t.Fatal(err)
	}
	if err := migrate.SaveRecord(path, migrate.Record{WebhookID: 7}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(victim); string(got) != "untouched" {
		t.Errorf("the file a planted link leads to was written: %q", got)
	}
	if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Errorf("record: %v, want a regular file of mode 0600", err)
	}
}
