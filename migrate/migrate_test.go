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
// migration is reported as gone, by name, the others are restored, and the
// websocket is deleted: running the rollback again could not bring the
// gone one back (it used to keep the websocket and the record for a next
// attempt that failed the same way).
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
	if want := "gone from Dialpad (deleted since the migration) and could not be restored: call subscription " + dialpad.ID(call).String(); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("rollback error %v, want %q", err, want)
	}
	if len(res.Restored) != 1 || len(res.Gone) != 1 || res.Gone[0].ID != dialpad.ID(call) || !res.WebsocketDeleted || !res.Finished {
		t.Errorf("result %+v: want the contact restored, the call gone, and the websocket, which nothing uses, deleted: nothing more to undo", res)
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

// TestApplyRecordsTheCreateFirst: the record is saved before the websocket
// create (saying one is being created, no id yet), then with the new id
// before any subscription moves; a create Dialpad refuses wraps
// ErrCreateRefused, after the one save, with nothing created.
func TestApplyRecordsTheCreateFirst(t *testing.T) {
	srv, c := newFake(t)
	wh := srv.AddWebhook("https://example.com/hook", "sec")
	if _, err := srv.AddSubscription("call", wh, dialpadtest.SubscriptionOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := migrate.New(migrate.Config{Client: c, APIBase: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := m.Plan(ctx, dialpad.ID(wh), 0)
	if err != nil {
		t.Fatal(err)
	}
	writes := func() int { // REST calls that may change something
		n := 0
		for _, call := range srv.RESTCalls() {
			if call.Method != "GET" {
				n++
			}
		}
		return n
	}
	var saved []migrate.Record
	var writesAtSave []int
	save := func(r migrate.Record) error {
		saved, writesAtSave = append(saved, r), append(writesAtSave, writes())
		return nil
	}
	srv.FailNextREST(1, 400, 0)
	if _, err := m.Apply(ctx, p, save); !errors.Is(err, migrate.ErrCreateRefused) {
		t.Errorf("apply with the create refused: %v, want ErrCreateRefused", err)
	}
	if len(saved) != 1 || !saved[0].CreateUnanswered() {
		t.Fatalf("saved %+v, want one record of a create not answered yet", saved)
	}
	saved, writesAtSave = nil, nil
	start := writes()
	rec, err := m.Apply(ctx, p, save)
	if err != nil {
		t.Fatal(err)
	}
	if len(saved) != 2 || !saved[0].CreateUnanswered() || saved[1].WebsocketID != rec.WebsocketID || !saved[1].WebsocketCreated || saved[1].WebsocketCreating {
		t.Errorf("saved %+v, want the create announced, then the websocket %s", saved, rec.WebsocketID)
	}
	if len(writesAtSave) == 2 && (writesAtSave[0] != start || writesAtSave[1] != start+1) {
		t.Errorf("REST writes at the saves: %v, want none before the first and only the create before the second", writesAtSave)
	}
}
