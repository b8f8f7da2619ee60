package setup_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/setup"
)

func TestParse(t *testing.T) {
	env := func(k string) string { return map[string]string{"SECRET": "from-env"}[k] }
	for _, tc := range []struct {
		name, yaml, want string // want: error substring, "" for success
	}{
		{"defaults", "websocket: {secret_env: SECRET}\nsubscriptions: [{type: call}, {type: call}, {type: sms}, {type: contact}, {type: agent-status}]", ""},
		{"unknown key", "websocket: {}\nsubscription: []", "subscription"},
		{"both secrets", "websocket: {secret: a, secret_env: SECRET}", "not both"},
		{"unset env", "websocket: {secret_env: NOPE}", "NOPE"},
		{"bad type", "subscriptions: [{type: fax}]", "fax"},
		{"field of another type", "subscriptions: [{type: sms, call_states: [all]}]", "call_states does not apply to sms"},
		{"bad enum", "subscriptions: [{type: contact, contact_type: global}]", "contact_type"},
		{"target half", "subscriptions: [{type: call, target_type: office}]", "go together"},
		{"duplicate name", "subscriptions: [{type: call, name: a}, {type: sms, name: a}]", "used twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := setup.Parse([]byte(tc.yaml), env)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range f.Subscriptions {
				names = append(names, s.Name)
			}
			if f.Websocket.Secret != "from-env" || strings.Join(names, " ") != "call call#2 sms contact agent_status" {
				t.Errorf("secret resolved %v, names %v", f.Websocket.Secret == "from-env", names)
			}
			s := f.Subscriptions[2]
			if !*s.Enabled || s.Direction != "all" || f.Subscriptions[3].ContactType != "shared" || f.Subscriptions[0].CallStates[0] != "all" {
				t.Errorf("defaults not filled: %+v", f.Subscriptions)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	spec := setup.SubscriptionSpec{Type: dialpad.Call, CallStates: []string{"hangup", "calling"}}
	if err := spec.Normalize(); err != nil {
		t.Fatal(err)
	}
	ws := &dialpad.Websocket{ID: 5}
	for _, tc := range []struct {
		name     string
		cur      dialpad.Subscription
		endpoint dialpad.ID
		changes  int
		recreate bool
	}{
		{"same, states in another order", dialpad.Subscription{Enabled: true, CallStates: []string{"calling", "hangup"}, Websocket: ws}, 5, 0, false},
		{"other endpoint", dialpad.Subscription{Enabled: true, CallStates: []string{"calling", "hangup"}, Websocket: ws}, 6, 1, false},
		{"new websocket", dialpad.Subscription{Enabled: true, CallStates: []string{"calling", "hangup"}, Websocket: ws}, 0, 1, false},
		{"disabled, all states", dialpad.Subscription{CallStates: []string{"all"}, Websocket: ws}, 5, 2, false},
		{"target to clear", dialpad.Subscription{Enabled: true, CallStates: []string{"calling", "hangup"}, TargetType: "office", TargetID: 9, Websocket: ws}, 5, 1, true},
	} {
		changes, recreate := setup.Diff(spec, tc.cur, tc.endpoint)
		if len(changes) != tc.changes || recreate != tc.recreate {
			t.Errorf("%s: changes %q recreate %v; want %d, %v", tc.name, changes, recreate, tc.changes, tc.recreate)
		}
	}
}

// TestApplyResumesWithoutDuplicates: a run that fails halfway has saved
// what it created; the next run creates only the rest.
func TestApplyResumesWithoutDuplicates(t *testing.T) {
	srv, err := dialpadtest.NewServer(dialpadtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := dialpad.New(dialpad.Config{BaseURL: srv.URL(), APIKey: srv.APIKey(), MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	f, err := setup.Parse([]byte("subscriptions: [{type: call}, {type: sms}, {type: changelog}]"), nil)
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "state.json")
	s, err := setup.New(setup.Config{Client: c, APIBase: srv.URL(), StatePath: state})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := s.Plan(ctx, f)
	if err != nil || p.Writes() != 4 {
		t.Fatalf("plan: %v, %d writes", err, p.Writes())
	}
	// an interrupted run: only the websocket and the call subscription
	p.Actions = p.Actions[:2]
	if _, err := s.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	full, err := s.Plan(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	srv.FailNextREST(1, http.StatusServiceUnavailable, 0) // the sms create
	if _, err := s.Apply(ctx, full); err == nil || !strings.Contains(err.Error(), "create sms subscription: 503") {
		t.Fatalf("apply: %v, want the injected 503 on the sms create", err)
	}
	st, err := setup.LoadState(state)
	if err != nil || st.WebsocketID == 0 || len(st.Subscriptions) != 1 {
		t.Fatalf("state after the failure: %+v, %v", st, err)
	}
	full, err = s.Plan(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if full.Writes() != 2 {
		t.Fatalf("resumed plan has %d writes, want 2:\n%v", full.Writes(), full.Actions)
	}
	if _, err := s.Apply(ctx, full); err != nil {
		t.Fatal(err)
	}
	wss, _ := c.ListWebsockets(ctx)
	for _, typ := range []dialpad.SubscriptionType{dialpad.Call, dialpad.SMS, dialpad.Changelog} {
		subs, _ := c.ListSubscriptions(ctx, typ)
		if len(subs) != 1 {
			t.Errorf("%d %s subscriptions, want 1", len(subs), typ)
		}
	}
	if len(wss) != 1 {
		t.Errorf("%d websockets, want 1", len(wss))
	}

	other, _ := setup.New(setup.Config{Client: c, APIBase: "https://sandbox.dialpad.com", StatePath: state})
	if _, err := other.Plan(ctx, f); err == nil || !strings.Contains(err.Error(), "belongs to") {
		t.Errorf("plan with another API base: %v", err)
	}
}
