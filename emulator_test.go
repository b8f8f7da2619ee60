package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// triggerFake starts the fake with one webhook per event type, subscribed
// to that type, so a test sees what each `trigger` published. The fake's
// trigger endpoint answers after every webhook POST finished.
func triggerFake(t *testing.T) (*dialpadtest.Server, map[string]*hook) {
	t.Helper()
	srv := newFake(t, dialpadtest.Config{})
	hooks := make(map[string]*hook)
	for _, typ := range dialpadtest.EventTypes() {
		hooks[typ] = newHook(t, nil)
		if _, err := srv.AddSubscription(typ, srv.AddWebhook(hooks[typ].URL, ""), dialpadtest.SubscriptionOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return srv, hooks
}

func (h *hook) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.requests)
}

// TestTriggerCount: --count, before or after the types, triggers each type
// that many times, in the order given, and nothing else.
func TestTriggerCount(t *testing.T) {
	t.Run("before", func(t *testing.T) { triggerCount(t, "--count", "3", "sms", "contact") })
	t.Run("after", func(t *testing.T) { triggerCount(t, "sms", "contact", "--count=3") })
}

func triggerCount(t *testing.T, args ...string) {
	srv, hooks := triggerFake(t)
	out, err := apiCmd(t, srv, "trigger", args...)
	if err != nil {
		t.Fatalf("trigger: %v\n%s", err, out)
	}
	want := strings.Repeat("triggered sms: 1 event(s), 0 websocket frame(s), 1 webhook POST(s)\n", 3) +
		strings.Repeat("triggered contact: 1 event(s), 0 websocket frame(s), 1 webhook POST(s)\n", 3)
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	for typ, h := range hooks {
		n := 0
		if typ == "sms" || typ == "contact" {
			n = 3
		}
		if got := h.count(); got != n {
			t.Errorf("%s webhook got %d POSTs, want %d", typ, got, n)
		}
	}
}

// TestTriggerRejectsBadArgs: unknown flags, unknown types, no type and a
// count below 1 fail with a message saying what to type, before
// anything is published.
func TestTriggerRejectsBadArgs(t *testing.T) {
	const valid = "call, sms, agent_status, contact, changelog"
	srv, hooks := triggerFake(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		// The test puts --api-key's value just before these: words after a
		// value may be more of it, unquoted, so only a word shaped like a
		// flag is named, and never a value after its =.
		{"unknown flag after types", []string{"sms", "contact", "--cuont", "3"},
			"trigger: unknown flag --cuont after the value of --api-key (if it is part of that value, quote the value) (see dialpad-tunnel trigger --help)"},
		{"value not echoed", []string{"--count", "1", "sms", "--apikey=dptest_secret"},
			"trigger: unknown flag --apikey after the value of --count (if it is part of that value, quote the value) (see dialpad-tunnel trigger --help)"},
		{"not shaped like a flag", []string{"sms", "--Key_Part2"},
			"trigger: unknown flag after the value of --api-key (a value with spaces needs quotes) (see dialpad-tunnel trigger --help)"},
		{"a type after --", []string{"sms", "--", "-x"},
			"trigger: -x is not an event type (see dialpad-tunnel trigger --help)"},
		{"no value", []string{"sms", "--count"},
			"trigger: --count needs a value (one that starts with -- goes after =: --count=VALUE) (see dialpad-tunnel trigger --help)"},
		{"count 0 after types", []string{"sms", "--count", "0"},
			"trigger: --count must be at least 1, got 0"},
		{"unknown type", []string{"bogus"},
			`trigger: unknown event type "bogus" (want one of ` + valid + ")"},
		{"unknown after a valid type", []string{"sms", "SMS"},
			`trigger: unknown event type "SMS" (want one of ` + valid + ")"},
		{"no type", nil,
			"trigger: name an event type: " + valid},
		{"count 0", []string{"--count", "0", "sms"},
			"trigger: --count must be at least 1, got 0"},
		{"count -1", []string{"--count", "-1", "sms"},
			"trigger: --count must be at least 1, got -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := start(t, append(append([]string{"trigger"}, apiArgs(srv)...), tc.args...)...)
			err := r.wait(t, 10*time.Second)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v\nwant %s", err, tc.want)
			}
			if out := r.stdout.String(); out != "" {
				t.Errorf("stdout: %q, want nothing", out)
			}
			for typ, h := range hooks {
				if n := h.count(); n != 0 {
					t.Errorf("%s webhook got %d POSTs, want none", typ, n)
				}
			}
		})
	}
	// The webhooks were live all along.
	if out, err := apiCmd(t, srv, "trigger", "sms"); err != nil {
		t.Fatalf("trigger sms: %v\n%s", err, out)
	}
	if n := hooks["sms"].count(); n != 1 {
		t.Errorf("sms webhook got %d POSTs after one good trigger, want 1", n)
	}
}

// TestTriggerAPIBaseWithPasswordAndQuery: trigger puts its path before an
// --api-base's query, and its errors show the base with the password and
// the query hidden.
func TestTriggerAPIBaseWithPasswordAndQuery(t *testing.T) {
	srv, hooks := triggerFake(t)
	base := strings.Replace(srv.URL(), "http://", "http://u:pw-s3cret@", 1) + "/?token=q-s3cret"
	out, err := runCmd(t, "trigger", "--api-base", base, "--api-key", srv.APIKey(), "sms")
	if err != nil || !strings.HasPrefix(out, "triggered sms: 1 event(s)") || hooks["sms"].count() != 1 {
		t.Fatalf("trigger with a password and a query in --api-base: %v\n%s", err, out)
	}
	srv.Close()
	_, err = runCmd(t, "trigger", "--api-base", base, "--api-key", srv.APIKey(), "sms")
	if err == nil || !strings.Contains(err.Error(), "is the emulator running at http://u:xxxxx@") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("trigger with the emulator gone: %v, want the base redacted", err)
	}
}

// TestDemoAndEmulatorRefuseBadValues: a rate, duration or token lifetime
// that could not work is refused with the flag named, not replaced by a
// default.
func TestDemoAndEmulatorRefuseBadValues(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"demo", "--rate", "0"}, "--rate 0: want 1 to 10000 events a second"},
		{[]string{"demo", "--rate", "-1"}, "--rate -1: want 1 to 10000 events a second"},
		{[]string{"demo", "--duration", "-1s"}, "--duration -1s: want more than 0"},
		{[]string{"demo", "--token-ttl", "-1s"}, "--token-ttl -1s: want 100ms or more"},
		{[]string{"emulator", "--addr", "127.0.0.1:0", "--token-ttl", "0"}, "--token-ttl 0s: want 100ms or more"},
	} {
		_, err := runCmd(t, tc.args...)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestTriggerStoppedBySignal: a trigger stopped (by an interrupt or
// SIGTERM) while the emulator has not answered says it was stopped, not
// that the emulator may be down.
func TestTriggerStoppedBySignal(t *testing.T) {
	arrived := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	defer slow.Close()
	r := start(t, "trigger", "--api-base", slow.URL, "--api-key", "k", "sms")
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("trigger sent nothing")
	}
	err := r.stop(t)
	want := "trigger sms: stopped before " + slow.URL + " answered: context canceled"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

// TestEmulatorBeyondLoopback: the emulator warns when it is bound where
// other machines reach it (--addr :8089 serves every interface); it said
// nothing, and its key and events went over the network as plain HTTP.
func TestEmulatorBeyondLoopback(t *testing.T) {
	for base, want := range map[string]bool{
		"http://127.0.0.1:8089": false,
		"http://127.8.0.1:8089": false,
		"http://[::1]:8089":     false,
		"http://localhost:8089": false,
		"http://0.0.0.0:8089":   true,
		"http://[::]:8089":      true,
		"http://10.1.2.3:8089":  true,
		"http://example.test:1": true,
	} {
		if got := beyondLoopback(base); got != want {
			t.Errorf("beyondLoopback(%s) = %v, want %v", base, got, want)
		}
	}
}
