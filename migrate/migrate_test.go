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

func TestDifferences(t *testing.T) {
	a := migrate.Snapshot{Type: dialpad.Call, ID: 1, EndpointID: 2, Enabled: true, CallStates: []string{"all"}}
	for _, tc := range []struct {
		name string
		edit func(*migrate.Snapshot)
		want string
	}{
		{"same", func(*migrate.Snapshot) {}, ""},
		{"endpoint", func(s *migrate.Snapshot) { s.EndpointID = 3 }, "endpoint_id: 2 → 3"},
		{"states", func(s *migrate.Snapshot) { s.CallStates = []string{"hangup"} }, "call_states"},
		{"enabled", func(s *migrate.Snapshot) { s.Enabled = false }, "enabled: true → false"},
	} {
		b := a
		b.CallStates = append([]string(nil), a.CallStates...)
		tc.edit(&b)
		got := strings.Join(a.Differences(b), "; ")
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// newFake starts a fake Dialpad for the test and a client of it.
func newFake(t *testing.T) (*dialpadtest.Server, *dialpad.Client) {
	t.Helper()
	srv, err := dialpadtest.NewServer(dialpadtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c, err := dialpad.New(dialpad.Config{BaseURL: srv.URL(), APIKey: srv.APIKey()})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// TestRollbackReportsWhatCannotBeRestored: a subscription deleted after the
// migration is reported with the operation and Dialpad's message, the
// others are restored, and the websocket is kept for the next attempt.
func TestRollbackReportsWhatCannotBeRestored(t *testing.T) {
	srv, c := newFake(t)
	wh := srv.AddWebhook("https://example.com/hook", "sec")
	contact, _ := srv.AddSubscription("contact", wh, dialpadtest.SubscriptionOptions{ContactType: "local"})
	call, _ := srv.AddSubscription("call", wh, dialpadtest.SubscriptionOptions{})
	m, err := migrate.New(migrate.Config{Client: c, APIBase: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := m.Plan(ctx, dialpad.ID(wh), 0)
	if err != nil || len(p.Subscriptions) != 2 || p.WebsocketID != 0 {
		t.Fatalf("plan %+v, %v", p, err)
	}
	path := filepath.Join(t.TempDir(), "r.json")
	rec, err := m.Apply(ctx, p, func(r migrate.Record) error { return migrate.SaveRecord(path, r) })
	if err != nil {
		t.Fatal(err)
	}
	if loaded, err := migrate.LoadRecord(path); err != nil || loaded.WebsocketID != rec.WebsocketID || len(loaded.Subscriptions) != 2 {
		t.Fatalf("LoadRecord = %+v, %v", loaded, err)
	}
	moved, _ := c.Subscription(ctx, dialpad.Contact, dialpad.ID(contact))
	if moved.EndpointID() != rec.WebsocketID || moved.ContactType != "local" {
		t.Fatalf("contact subscription after migrate: %+v", moved)
	}
	if _, err := c.DeleteSubscription(ctx, dialpad.Call, dialpad.ID(call)); err != nil {
		t.Fatal(err)
	}
	res, err := m.Rollback(ctx, rec)
	if err == nil || !strings.Contains(err.Error(), "get call subscription") || !strings.Contains(err.Error(), "subscription not found") {
		t.Fatalf("rollback error %v, want the missing call subscription reported", err)
	}
	if len(res.Restored) != 1 || res.WebsocketDeleted {
		t.Errorf("result %+v: want the contact restored and the websocket kept", res)
	}
	if err := os.WriteFile(path, []byte(`{"version":2}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.LoadRecord(path); err == nil {
		t.Error("LoadRecord accepted an unknown version")
	}
}

// TestApplyWithNothingToMigrate: a webhook no subscription delivers to gets
// no websocket and no rollback record; Dialpad is not written to.
func TestApplyWithNothingToMigrate(t *testing.T) {
	srv, c := newFake(t)
	wh := srv.AddWebhook("https://example.com/hook", "")
	other := srv.AddWebhook("https://example.com/other", "")
	if _, err := srv.AddSubscription("call", other, dialpadtest.SubscriptionOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := migrate.New(migrate.Config{Client: c, APIBase: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := m.Plan(ctx, dialpad.ID(wh), 0)
	if err != nil || len(p.Subscriptions) != 0 || p.Signed {
		t.Fatalf("plan %+v, %v", p, err)
	}
	n := len(srv.RESTCalls())
	saved := false
	_, err = m.Apply(ctx, p, func(migrate.Record) error { saved = true; return nil })
	if !errors.Is(err, migrate.ErrNothingToMigrate) {
		t.Errorf("apply: %v, want ErrNothingToMigrate", err)
	}
	if saved || len(srv.RESTCalls()) != n {
		t.Errorf("apply with nothing to migrate: record saved %v, %d REST calls; want neither", saved, len(srv.RESTCalls())-n)
	}
}
