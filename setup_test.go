package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

const setupYAML = `
websocket:
  secret_env: TEST_SETUP_SECRET
subscriptions:
  - name: calls
    type: call
    call_states: [calling, hangup]
  - type: sms
    direction: inbound
    delivery_status: true
  - type: contact
    contact_type: local
`

// writeFile writes content to name in a fresh temporary directory.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writes returns the non-GET REST calls since index from.
func writes(srv *dialpadtest.Server, from int) []string {
	var out []string
	for _, c := range srv.RESTCalls()[from:] {
		if c.Method != "GET" {
			out = append(out, c.Method+" "+c.Path)
		}
	}
	return out
}

// TestSetupIsIdempotent: the first run creates the websocket and the
// subscriptions, the second makes no REST write; a dry run writes nothing;
// an edit is one PATCH and a removal one DELETE.
func TestSetupIsIdempotent(t *testing.T) {
	t.Setenv("TEST_SETUP_SECRET", "setup-secret-1")
	srv := newFake(t, dialpadtest.Config{PageSize: 2})
	dir := t.TempDir()
	cfg := writeFile(t, dir, "setup.yaml", setupYAML)
	state := filepath.Join(dir, "state", "setup.json")

	out := mustAPI(t, srv, "setup", "--config", cfg, "--state", state, "--dry-run")
	mustContain(t, out, "create   websocket")
	mustContain(t, out, `create   call subscription "calls"`)
	mustContain(t, out, "dry run: nothing changed")
	if w := writes(srv, 0); len(w) != 0 {
		t.Fatalf("dry run wrote %v", w)
	}

	out = mustAPI(t, srv, "setup", "--config", cfg, "--state", state)
	if w := writes(srv, 0); len(w) != 4 {
		t.Fatalf("first run wrote %v, want 1 websocket + 3 subscriptions", w)
	}
	if strings.Contains(out, "setup-secret-1") || strings.Contains(out, srv.APIKey()) {
		t.Errorf("setup printed a secret:\n%s", out)
	}
	client := testClient(t, srv)
	ctx := context.Background()
	wss, _ := client.ListWebsockets(ctx)
	if len(wss) != 1 || wss[0].Secret() != "setup-secret-1" {
		t.Fatalf("websockets after setup: %v", wss)
	}
	// The next command goes on with the API setup used, not production.
	mustContain(t, out, "listen with: dialpad-tunnel listen --websocket-id "+wss[0].ID.String()+" --api-base "+srv.URL()+" --forward-to URL\n")
	sms, _ := client.ListSubscriptions(ctx, dialpad.SMS)
	if len(sms) != 1 || sms[0].Direction != "inbound" || !sms[0].Status || sms[0].EndpointID() != wss[0].ID {
		t.Fatalf("sms subscriptions after setup: %+v", sms)
	}
	fi, err := os.Stat(state)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, mode %v; want 0600", err, fi.Mode())
	}

	n := len(srv.RESTCalls())
	out = mustAPI(t, srv, "setup", "--config", cfg, "--state", state)
	if w := writes(srv, n); len(w) != 0 {
		t.Fatalf("second run wrote %v, want nothing", w)
	}
	mustContain(t, out, "nothing to do")

	n = len(srv.RESTCalls())
	edited := strings.Replace(setupYAML, "direction: inbound", "direction: outbound", 1)
	edited = strings.Replace(edited, "  - type: contact\n    contact_type: local\n", "", 1)
	writeFile(t, dir, "setup.yaml", edited)
	out = mustAPI(t, srv, "setup", "--config", cfg, "--state", state)
	mustContain(t, out, "direction: inbound → outbound")
	got := writes(srv, n)
	if len(got) != 2 || !strings.HasPrefix(got[0], "PATCH /api/v2/subscriptions/sms/") || !strings.HasPrefix(got[1], "DELETE /api/v2/subscriptions/contact/") {
		t.Fatalf("edit wrote %v, want one sms PATCH and one contact DELETE", got)
	}

	t.Setenv("TEST_SETUP_SECRET", "setup-secret-2")
	n = len(srv.RESTCalls())
	mustContain(t, mustAPI(t, srv, "setup", "--config", cfg, "--state", state), "secret changed")
	if got := writes(srv, n); len(got) != 1 || got[0] != "PATCH /api/v2/websockets/"+wss[0].ID.String() {
		t.Fatalf("secret change wrote %v", got)
	}
}

// TestSetupRecreatesWhatWasDeleted: a websocket deleted behind setup's back
// is created again with its subscriptions, without duplicates.
func TestSetupRecreatesWhatWasDeleted(t *testing.T) {
	t.Setenv("TEST_SETUP_SECRET", "s")
	srv := newFake(t, dialpadtest.Config{})
	dir := t.TempDir()
	cfg := writeFile(t, dir, "setup.yaml", setupYAML)
	state := filepath.Join(dir, "setup.json")
	mustAPI(t, srv, "setup", "--config", cfg, "--state", state)
	client := testClient(t, srv)
	wss, _ := client.ListWebsockets(context.Background())
	if _, err := client.DeleteWebsocket(context.Background(), wss[0].ID); err != nil {
		t.Fatal(err)
	}
	out := mustAPI(t, srv, "setup", "--config", cfg, "--state", state)
	mustContain(t, out, "is gone")
	wss, _ = client.ListWebsockets(context.Background())
	calls, _ := client.ListSubscriptions(context.Background(), dialpad.Call)
	if len(wss) != 1 || len(calls) != 1 || calls[0].EndpointID() != wss[0].ID {
		t.Fatalf("after re-setup: websockets %v, call subscriptions %v", wss, calls)
	}
}

// TestSetupDefaultStateAndErrors: the state file defaults to
// $XDG_STATE_HOME/dialpad-tunnel/setup.json; bad files are refused before
// any REST call.
func TestSetupDefaultStateAndErrors(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	cfg := writeFile(t, dir, "ok.yaml", "websocket: {}\nsubscriptions:\n  - type: changelog\n")
	mustAPI(t, srv, "setup", "--config", cfg)
	if _, err := os.Stat(filepath.Join(dir, "dialpad-tunnel", "setup.json")); err != nil {
		t.Fatalf("default state file: %v", err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"websocket: {}\nsubscriptions:\n  - type: fax\n", "fax"},
		{"websocket: {}\nsubscriptions:\n  - type: call\n    direction: inbound\n", "direction does not apply to call"},
		{"websocket: {}\nbogus: 1\n", "bogus"},
		{"websocket:\n  secret_env: TEST_SETUP_UNSET_VAR\n", "TEST_SETUP_UNSET_VAR"},
	} {
		n := len(srv.RESTCalls())
		_, err := apiCmd(t, srv, "setup", "--config", writeFile(t, dir, "bad.yaml", tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
		if len(srv.RESTCalls()) != n {
			t.Errorf("%q: a bad file made REST calls", tc.yaml)
		}
	}
}

// TestSetupNextCommandKeepsEnv: the listen line setup prints has the --env
// and --api-base setup ran with, also from the environment.
func TestSetupNextCommandKeepsEnv(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	dir := t.TempDir()
	cfg := writeFile(t, dir, "ok.yaml", "websocket: {}\nsubscriptions:\n  - type: changelog\n")
	t.Setenv("DIALPAD_ENV", "sandbox")
	out := mustAPI(t, srv, "setup", "--config", cfg, "--state", filepath.Join(dir, "setup.json"))
	mustContain(t, out, " --env sandbox --api-base "+srv.URL()+" --forward-to URL\n")
}
