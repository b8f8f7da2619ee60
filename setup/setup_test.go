package setup_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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
		{"unknown key", "websocket: {}\nsubscription: []", `setup file: line 2: unknown key "subscription" in the top level; the keys allowed there are websocket, subscriptions`},
		{"unknown websocket key", "websocket:\n  secret-env: X\n", `line 2: unknown key "secret-env" in websocket; the keys allowed there are id, secret_env, secret`},
		{"unknown subscription key", "subscriptions:\n  - type: sms\n  - type: call\n    call_state: [hangup]\n", `line 4: unknown key "call_state" in subscription 2; the keys allowed there are name, type, enabled, call_states,`},
		{"subscriptions not a list", "subscriptions:\n  type: call\n", "line 2: subscriptions must be a list"},
		{"subscriptions left empty", "websocket: {secret_env: SECRET}\nsubscriptions:\n", `line 2: subscriptions has no list under it: write "subscriptions: []" for none`},
		// An empty item (a dash left alone, its lines commented out) would
		// otherwise vanish, and applying the file delete what it managed.
		{"empty subscription item", "websocket: {secret_env: SECRET}\nsubscriptions:\n  - type: call\n  -\n", `line 4: subscription 2 is empty: give it its type (- type: call), or remove the dash`},
		{"null subscription item", "subscriptions: [~]\n", `line 1: subscription 1 is empty: give it its type (- type: call), or remove the dash`},
		{"both secrets", "websocket: {secret: a, secret_env: SECRET}\nsubscriptions: []", "not both"},
		// A well-formed state this version does not know is kept (Dialpad
		// may have added it; see TestUnknownCallStateWarns); what no state
		// looks like is refused.
		{"malformed call state", "subscriptions:\n  - type: call\n    call_states: [hangup, ring ing]\n", `subscription 1 (call): call_states "ring ing": not a call state (lower-case words joined by _, such as voicemail_uploaded); did you mean ringing?; known states: admin, admin_recording,`},
		{"empty call state", "subscriptions:\n  - type: call\n    call_states: [hangup, '']\n", `subscription 1 (call): call_states "": not a call state`},
		{"unknown target type", "subscriptions:\n  - type: sms\n    target_type: planet\n    target_id: 5\n", `subscription 1 (sms): target_type "planet": want one of callcenter, callrouter,`},
		{"second document", "subscriptions:\n  - type: call\n---\nsubscriptions: []\n", "line 3: a second YAML document (after ---): a setup file is one document"},
		{"unset env", "websocket: {secret_env: NOPE}\nsubscriptions: []", "NOPE"},
		{"bad type", "subscriptions: [{type: fax}]", "fax"},
		{"field of another type", "subscriptions: [{type: sms, call_states: [all]}]", "call_states does not apply to sms"},
		{"bad enum", "subscriptions: [{type: contact, contact_type: global}]", "contact_type"},
		{"target half", "subscriptions: [{type: call, target_type: office}]", "go together"},
		{"duplicate name", "subscriptions: [{type: call, name: a}, {type: sms, name: a}]", "used twice"},
		// The CLI refuses --websocket-id -5 and --target-id -3: so does the file.
		{"negative websocket id", "websocket: {id: -5}\nsubscriptions: []", "setup file: websocket: id -5: want a positive id"},
		{"negative target id", "subscriptions: [{type: call, target_type: office, target_id: -3}]", "subscription 1 (call): target_id -3: want a positive id"},
		// The decoder truncates a float into an id: 1.9 would target office 1.
		{"fractional target id", "subscriptions:\n  - type: call\n    target_type: office\n    target_id: 1.9\n", "setup file: line 4: target_id 1.9: want a positive whole id"},
		{"fractional websocket id", "websocket: {id: 1000.5}\nsubscriptions: []", "setup file: line 1: id 1000.5: want a positive whole id"},
		// A top-level merge key may bring subscriptions: the decoder says.
		{"merged", "base: &base {subscriptions: [{type: call}]}\n<<: *base\n", `unknown key "base"`},
		// A value refused after decoding names its item's line too: these
		// said only "subscription 2", to be counted in the file.
		{"bad value names its line", "websocket: {secret_env: SECRET}\nsubscriptions:\n  - type: sms\n  - type: call\n    call_states: [hang up]\n", `setup file: line 4: subscription 2 (call): call_states "hang up": not a call state`},
		// The decoder takes "yes" (YAML 1.1's word) for a bool even quoted:
		// quoted text is refused, as the README says.
		{"quoted yes for enabled", "subscriptions:\n  - type: call\n    enabled: \"yes\"\n", `setup file: line 3: subscription 1: enabled must be true or false, not quoted text`},
		{"quoted off for a bool", "subscriptions:\n  - {type: sms, include_internal: 'off'}\n", `setup file: line 2: subscription 1: include_internal must be true or false, not quoted text`},
		{"tagged text for a bool", "subscriptions:\n  - type: call\n    group_calls_only: !!str y\n", `setup file: line 3: subscription 1: group_calls_only must be true or false, not text`},
		// A value a merge key (<<) brings is checked as one written in
		// place, and named by its own line: "yes" was taken for true.
		{"quoted yes merged", "subscriptions:\n  - type: call\n    <<:\n      enabled: \"yes\"\n", `setup file: line 4: subscription 1: enabled must be true or false, not quoted text`},
		{"quoted off merged from a list", "subscriptions:\n  - type: sms\n    <<: [{direction: all}, {include_internal: 'off'}]\n", `setup file: line 3: subscription 1: include_internal must be true or false, not quoted text`},
		{"merged into a merged mapping", "subscriptions:\n  - type: call\n    <<:\n      <<: {group_calls_only: !!str y}\n", `setup file: line 4: subscription 1: group_calls_only must be true or false, not text`},
		{"merged at the top level", "<<:\n  subscriptions:\n    - type: call\n      delivery_status: \"no\"\n", `setup file: line 4: subscription 1: delivery_status must be true or false, not quoted text`},
		{"unknown key merged", "subscriptions:\n  - type: call\n    <<: {enable: true}\n", `setup file: line 3: unknown key "enable" in subscription 1; the keys allowed there are name,`},
		{"bad type names its line", "subscriptions:\n  - type: sms\n\n  - type: fax\n", `setup file: line 4: subscription 2: dialpad: unknown subscription type "fax"`},
		{"duplicate name names its line", "subscriptions:\n  - {type: call, name: a}\n  - {type: sms, name: a}\n", `setup file: line 3: subscription 2: name "a" is used twice`},
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

// TestParseAcceptsKnownEnumsAndAnEmptySecondDocument: the call states
// and target types Dialpad knows pass; a trailing "---" ignores nothing and
// is accepted.
func TestParseAcceptsKnownEnumsAndAnEmptySecondDocument(t *testing.T) {
	for _, yaml := range []string{
		"subscriptions:\n  - type: call\n    call_states: [hangup, voicemail_uploaded]\n    target_type: office\n    target_id: 5\n",
		"subscriptions:\n  - type: sms\n    target_type: user\n    target_id: 5\n---\n",
	} {
		if f, err := setup.Parse([]byte(yaml), nil); err != nil || len(f.Subscriptions) != 1 {
			t.Errorf("%q: %+v, %v; want accepted", yaml, f, err)
		}
	}
}

// TestParseBoolsAndForgivenCallStates: a bool field takes true and false
// (and YAML 1.1's yes/no/on/off unquoted); call_states forgives case and
// "-" for "_" as --call-states does, so a value moved from the flag into
// the file means the same.
func TestParseBoolsAndForgivenCallStates(t *testing.T) {
	for yaml, want := range map[string]bool{
		"enabled: true": true, "enabled: false": false, "enabled: False": false,
		"enabled: no": false, "enabled: on": true, "enabled: !!bool true": true,
	} {
		f, err := setup.Parse([]byte("subscriptions:\n  - type: call\n    "+yaml+"\n"), nil)
		if err != nil || *f.Subscriptions[0].Enabled != want {
			t.Errorf("%q: %+v, %v; want enabled %v", yaml, f, err, want)
		}
	}
	f, err := setup.Parse([]byte("subscriptions:\n  - type: call\n    call_states: [Hangup, voicemail-Uploaded, HANGUP]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Subscriptions[0].CallStates, ","); got != "hangup,voicemail_uploaded" || len(f.Warnings()) != 0 {
		t.Errorf("call_states %s, warnings %q; want hangup,voicemail_uploaded and none", got, f.Warnings())
	}
}

// TestParseMergedValues: a value a merge key brings is taken as the
// decoder takes it, unquoted yes/no included; one the mapping sets itself
// wins, and the merged one it hides is not checked (the decoder skips it).
func TestParseMergedValues(t *testing.T) {
	f, err := setup.Parse([]byte("subscriptions:\n  - type: sms\n    <<: {enabled: no, include_internal: yes}\n"+
		"  - type: call\n    enabled: true\n    <<: [{enabled: \"yes\"}, {group_calls_only: on, enabled: \"no\"}]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	sms, call := f.Subscriptions[0], f.Subscriptions[1]
	if *sms.Enabled || !sms.IncludeInternal || !*call.Enabled || !call.GroupCallsOnly {
		t.Errorf("merged values not taken as the decoder takes them: %+v", f.Subscriptions)
	}
}

// TestUnknownCallStateWarns: a well-formed call state this version does
// not know is kept, as Dialpad may have added it, and Warnings names it,
// its subscription, and the known state it may be a typo of; known states
// give no warning.
func TestUnknownCallStateWarns(t *testing.T) {
	f, err := setup.Parse([]byte("subscriptions:\n  - type: sms\n  - type: call\n    call_states: [hangup, hangpu, warm_transfer]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.Subscriptions[1].CallStates, []string{"hangup", "hangpu", "warm_transfer"}; !slices.Equal(got, want) {
		t.Errorf("call_states %q, want %q", got, want)
	}
	want := []string{
		`subscription 2 (call): call_states "hangpu" is not a call state this version of dialpad-tunnel knows: it is sent to Dialpad as given, which refuses it unless it is a state added since; did you mean hangup?`,
		`subscription 2 (call): call_states "warm_transfer" is not a call state this version of dialpad-tunnel knows: it is sent to Dialpad as given, which refuses it unless it is a state added since`,
	}
	if got := f.Warnings(); !slices.Equal(got, want) {
		t.Errorf("warnings:\n%q\nwant:\n%q", got, want)
	}
}

// TestParseTopLevelMerge: subscriptions brought by a top-level merge key
// (<<) are declared: the file is not refused as declaring nothing.
func TestParseTopLevelMerge(t *testing.T) {
	f, err := setup.Parse([]byte("<<: {subscriptions: [{type: call}]}\n"), nil)
	if err != nil || len(f.Subscriptions) != 1 {
		t.Fatalf("%+v, %v; want the merged subscription", f, err)
	}
}

// TestParseRefusesAFileThatDeclaresNothing: an empty or comment-only file
// (or one whose keys are all empty) would remove the websocket's secret and
// delete every managed subscription, so it is refused, and so is one with
// no subscriptions: key; "subscriptions: []" says so on purpose and is
// accepted.
func TestParseRefusesAFileThatDeclaresNothing(t *testing.T) {
	for _, yaml := range []string{"", "\n\n", "# websocket:\n#   secret_env: S\n", "---\n", "~\n", "websocket:\n"} {
		_, err := setup.Parse([]byte(yaml), nil)
		if !errors.Is(err, setup.ErrNothingDeclared) || !strings.Contains(err.Error(), `keep your websocket: block as it is and write "subscriptions: []"`) {
			t.Errorf("%q: error %v, want ErrNothingDeclared with the explicit way", yaml, err)
		}
	}
	for _, yaml := range []string{"subscriptions: []\n", "websocket: {}\nsubscriptions: []\n"} {
		if f, err := setup.Parse([]byte(yaml), nil); err != nil || len(f.Subscriptions) != 0 {
			t.Errorf("%q: %+v, %v; want accepted, no subscriptions", yaml, f, err)
		}
	}
	// A websocket without a subscriptions: key would delete them all too.
	if _, err := setup.Parse([]byte("websocket: {secret_env: S}\n"), func(string) string { return "s" }); err == nil || !strings.Contains(err.Error(), `no subscriptions: key`) {
		t.Errorf("a file with no subscriptions: key: %v, want it refused", err)
	}
	path := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := setup.ParseFile(path, nil); err == nil || !strings.HasPrefix(err.Error(), "setup file "+path+": no websocket: or subscriptions: key") {
		t.Errorf("ParseFile: error %v, want it to name the file", err)
	}
}

// TestLock: a second run on the same state file waits for the first, and
// fails with the state file named once its wait is over; it gets the lock
// as soon as the first lets go, and stops waiting when its context ends.
func TestLock(t *testing.T) {
	c, err := dialpad.New(dialpad.Config{BaseURL: "http://127.0.0.1:1", APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "dir", "setup.json")
	newSetup := func() *setup.Setup {
		s, err := setup.New(setup.Config{Client: c, APIBase: "http://127.0.0.1:1", StatePath: state, LockWait: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first, second := newSetup(), newSetup()
	ctx := context.Background()
	unlock, err := first.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = second.Lock(ctx)
	if want := "setup: state file " + state + ": another setup run is using it (waited 50ms; let the other setup finish, then run again)"; !errors.Is(err, setup.ErrLocked) || err.Error() != want {
		t.Errorf("second lock: %v\nwant %s", err, want)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := second.Lock(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("lock with a cancelled context: %v", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	unlock, err = second.Lock(ctx)
	if err != nil {
		t.Fatalf("lock after the first let go: %v", err)
	}
	unlock()
	if fi, err := os.Stat(state + ".lock"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file: %v, %v; want mode 0600", fi, err)
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

	// The same API written another way, as the client takes it (a
	// trailing slash, /api/v2, the host in capitals), is the same API: it
	// was refused as another one.
	for _, base := range []string{srv.URL() + "/", srv.URL() + "/api/v2", strings.ToUpper(srv.URL()) + "/api/v2/"} {
		same, err := setup.New(setup.Config{Client: c, APIBase: base, StatePath: state})
		if err != nil {
			t.Fatal(err)
		}
		if p, err := same.Plan(ctx, f); err != nil || p.Writes() != 0 {
			t.Errorf("plan with API base %s: %v, %d writes; want the state's API, no writes", base, err, p.Writes())
		}
	}
}
