package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/setup"
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

// TestSetupUnknownCallState: a well-formed call state this version does
// not know is not refused by setup, as by listen: it is planned and sent
// to Dialpad, which decides (the fake refuses it), after a warning that
// names the file, the subscription, the state and the known state it may
// be a typo of. It was refused before any request.
func TestSetupUnknownCallState(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	dir := t.TempDir()
	cfg := writeFile(t, dir, "new.yaml", "websocket: {}\nsubscriptions:\n  - type: sms\n  - type: call\n    call_states: [hangup, hangpu]\n")
	args := append(append([]string{"setup"}, apiArgs(srv)...), "--config", cfg, "--state", filepath.Join(dir, "state.json"))
	want := "warning: setup file " + cfg + `: subscription 2 (call): call_states "hangpu" is not a call state this version of dialpad-tunnel knows: it is sent to Dialpad as given, which refuses it unless it is a state added since; did you mean hangup?`

	_, stderr, err := cliErr(t, append(args, "--dry-run")...)
	if err != nil {
		t.Fatalf("setup --dry-run: %v\n%s", err, stderr)
	}
	mustContain(t, stderr, want)

	_, stderr, err = cliErr(t, args...)
	if err == nil || !strings.Contains(err.Error(), `"hangpu"`) {
		t.Fatalf("setup ended with %v, want the fake's refusal of hangpu", err)
	}
	mustContain(t, stderr, want)
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
		{"websocket:\n  secret_env: TEST_SETUP_UNSET_VAR\nsubscriptions: []\n", "TEST_SETUP_UNSET_VAR"},
		{"subscriptions:\n  - type: call\n    call_states: [hang up]\n", `subscription 1 (call): call_states "hang up": not a call state (lower-case words joined by _, such as voicemail_uploaded); did you mean hangup?; known states: admin,`},
		{"subscriptions:\n  - type: call\n    call_states: [Hang-Up, ring ing]\n", `subscription 1 (call): call_states "ring ing": not a call state`},
		{"subscriptions:\n  - type: call\n    call_states: [\"\"]\n", `subscription 1 (call): call_states "": not a call state`},
		{"subscriptions:\n  - type: call\n    target_type: planet\n    target_id: 5\n", `subscription 1 (call): target_type "planet": want one of`},
		{"subscriptions:\n  - type: call\n---\nsubscriptions: []\n", "line 3: a second YAML document"},
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

// TestSetupRefusesAFileThatDeclaresNothing: an empty or comment-only file,
// or /dev/null, is refused before any REST call, with the file named and
// the explicit way to remove everything; that way works.
func TestSetupRefusesAFileThatDeclaresNothing(t *testing.T) {
	t.Setenv("TEST_SETUP_SECRET", "s")
	srv := newFake(t, dialpadtest.Config{})
	dir := t.TempDir()
	state := filepath.Join(dir, "setup.json")
	mustAPI(t, srv, "setup", "--config", writeFile(t, dir, "setup.yaml", setupYAML), "--state", state)
	for _, cfg := range []string{
		writeFile(t, dir, "empty.yaml", ""),
		writeFile(t, dir, "comments.yaml", "# websocket:\n#   secret_env: TEST_SETUP_SECRET\n"),
		os.DevNull,
	} {
		n := len(srv.RESTCalls())
		_, err := apiCmd(t, srv, "setup", "--config", cfg, "--state", state)
		if want := "setup file " + cfg + ": no websocket: or subscriptions: key"; err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), `write "subscriptions: []"`) {
			t.Errorf("%s: error %v, want %q and the explicit way", cfg, err, want)
		}
		if len(srv.RESTCalls()) != n {
			t.Errorf("%s: REST calls were made", cfg)
		}
	}
	client := testClient(t, srv)
	if subs, _ := client.ListSubscriptions(context.Background(), dialpad.Call); len(subs) != 1 {
		t.Fatalf("call subscriptions after the refused runs: %v", subs)
	}

	cfg := writeFile(t, dir, "none.yaml", "websocket: {secret_env: TEST_SETUP_SECRET}\nsubscriptions: []\n")
	out := mustAPI(t, srv, "setup", "--config", cfg, "--state", state)
	mustContain(t, out, "3 change(s)")
	for _, typ := range []dialpad.SubscriptionType{dialpad.Call, dialpad.SMS, dialpad.Contact} {
		if subs, _ := client.ListSubscriptions(context.Background(), typ); len(subs) != 0 {
			t.Errorf("%s subscriptions after subscriptions: []: %v", typ, subs)
		}
	}
}

// TestSetupTypoNamesFileLineAndKeys: a misspelt key is reported with the
// file, its line and the keys allowed there, without Go type names.
func TestSetupTypoNamesFileLineAndKeys(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	dir := t.TempDir()
	for _, tc := range []struct{ yaml, want string }{
		{"websocket: {}\nsubscription:\n  - type: call\n", `line 2: unknown key "subscription" in the top level; the keys allowed there are websocket, subscriptions`},
		{"subscriptions:\n  - type: call\n    call_state: [hangup]\n", `line 3: unknown key "call_state" in subscription 1; the keys allowed there are name, type, enabled, call_states, group_calls_only, target_type, target_id, direction, include_internal, delivery_status, agent_type, contact_type`},
	} {
		cfg := writeFile(t, dir, "typo.yaml", tc.yaml)
		_, err := apiCmd(t, srv, "setup", "--config", cfg, "--state", filepath.Join(dir, "setup.json"))
		if want := "setup file " + cfg + ": " + tc.want; err == nil || err.Error() != want {
			t.Errorf("error %v\nwant  %s", err, want)
		}
	}
}

// TestSetupConcurrentRunsCreateOnce: runs of the real binary started at
// once on one state file create one websocket and one set of
// subscriptions; the others wait for the lock and find nothing to do, and
// all print the same listen line.
func TestSetupConcurrentRunsCreateOnce(t *testing.T) {
	bin := buildAgent(t)
	srv := newFake(t, dialpadtest.Config{})
	dir := t.TempDir()
	cfg := writeFile(t, dir, "setup.yaml", setupYAML)
	state := filepath.Join(dir, "setup.json")
	const runs = 3
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for range runs {
		cmd := exec.Command(bin, append([]string{"setup", "--config", cfg, "--state", state}, apiArgs(srv)...)...)
		cmd.Env = append(cleanEnv(t), "TEST_SETUP_SECRET=s")
		out := new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("setup run %d: %v\n%s", i, err, outs[i])
		}
	}
	client := testClient(t, srv)
	wss, _ := client.ListWebsockets(context.Background())
	if len(wss) != 1 {
		t.Fatalf("%d websockets after %d runs at once, want 1", len(wss), runs)
	}
	for _, typ := range []dialpad.SubscriptionType{dialpad.Call, dialpad.SMS, dialpad.Contact} {
		if subs, _ := client.ListSubscriptions(context.Background(), typ); len(subs) != 1 {
			t.Errorf("%d %s subscriptions, want 1", len(subs), typ)
		}
	}
	for _, out := range outs {
		mustContain(t, out.String(), "listen with: dialpad-tunnel listen --websocket-id "+wss[0].ID.String()+" ")
	}
}

// TestSetupWebsocketIDOtherThanTheState: a file whose websocket: id: names
// another websocket than the one the state file manages is refused, dry
// run included, rather than planned against the state's as "ok".
func TestSetupWebsocketIDOtherThanTheState(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	dir := t.TempDir()
	state := filepath.Join(dir, "setup.json")
	cfg := writeFile(t, dir, "setup.yaml", "websocket: {}\nsubscriptions:\n  - type: changelog\n")
	mustAPI(t, srv, "setup", "--config", cfg, "--state", state)
	st, err := setup.LoadState(state)
	if err != nil {
		t.Fatal(err)
	}
	other := srv.AddWebsocket("")
	cfg = writeFile(t, dir, "setup.yaml", fmt.Sprintf("websocket: {id: %d}\nsubscriptions:\n  - type: changelog\n", other))
	n := len(srv.RESTCalls())
	for _, dry := range []string{"--dry-run", "--dry-run=false"} {
		out, err := apiCmd(t, srv, "setup", "--config", cfg, "--state", state, dry)
		want := fmt.Sprintf("setup: the file names websocket %d (websocket: id:), but the state file %s manages websocket %s", other, state, st.WebsocketID)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("setup %s: error %v\nwant %s…", dry, err, want)
		}
		if strings.Contains(out, "already matches") {
			t.Errorf("setup %s said Dialpad matches the file:\n%s", dry, out)
		}
	}
	if w := writes(srv, n); len(w) != 0 {
		t.Errorf("REST writes: %v", w)
	}
	// The id the state manages is the same websocket: nothing to do.
	cfg = writeFile(t, dir, "setup.yaml", fmt.Sprintf("websocket: {id: %s}\nsubscriptions:\n  - type: changelog\n", st.WebsocketID))
	mustContain(t, mustAPI(t, srv, "setup", "--config", cfg, "--state", state), "Dialpad already matches the file: nothing to do")
}

// TestSetupAdoptedWebsocketGone: a websocket the file adopts (id:) that
// was deleted is an error naming it, as it is on the first run, not
// replaced by a new one the file does not name.
func TestSetupAdoptedWebsocketGone(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	dir := t.TempDir()
	state := filepath.Join(dir, "setup.json")
	ws := srv.AddWebsocket("")
	cfg := writeFile(t, dir, "setup.yaml", fmt.Sprintf("websocket: {id: %d}\nsubscriptions:\n  - type: changelog\n", ws))
	mustAPI(t, srv, "setup", "--config", cfg, "--state", state)
	mustAPI(t, srv, "websockets delete", fmt.Sprint(ws))
	n := len(srv.RESTCalls())
	_, err := apiCmd(t, srv, "setup", "--config", cfg, "--state", state)
	if want := fmt.Sprintf("setup: dialpad: get websocket %d: 404 Not Found", ws); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %v\nwant %s…", err, want)
	}
	if w := writes(srv, n); len(w) != 0 {
		t.Errorf("REST writes: %v", w)
	}
}
