package main

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestSetupWithoutConfig: a missing --config is one short line naming the
// flag and its variable, with no help text before it; an empty one is
// refused as before.
func TestSetupWithoutConfig(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	t.Setenv("DIALPAD_SETUP_CONFIG", "")
	os.Unsetenv("DIALPAD_SETUP_CONFIG")
	out, err := apiCmd(t, srv, "setup", "--dry-run")
	if want := "setup: pass --config FILE, the setup file (YAML, see examples/setup.yaml), or set DIALPAD_SETUP_CONFIG"; err == nil || err.Error() != want {
		t.Errorf("error %v\nwant  %s", err, want)
	}
	if out != "" {
		t.Errorf("printed before the error:\n%s", out)
	}
	if _, err := apiCmd(t, srv, "setup", "--config="); err == nil || !strings.HasPrefix(err.Error(), "--config is empty") {
		t.Errorf("empty --config: %v", err)
	}
	if len(srv.RESTCalls()) != 0 {
		t.Errorf("REST calls were made: %v", srv.RESTCalls())
	}
}

// TestSetupStateThroughASymlink: a --state that is a symbolic link stays a
// link, and a run through the file it names finds everything made.
func TestSetupStateThroughASymlink(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	dir := t.TempDir()
	cfg := writeFile(t, dir, "ok.yaml", "websocket: {}\nsubscriptions:\n  - type: changelog\n")
	real, link := filepath.Join(dir, "real.json"), filepath.Join(dir, "link.json")
	if err := os.Symlink(real, link); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	mustAPI(t, srv, "setup", "--config", cfg, "--state", link)
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("--state link after setup: %v, %v; want still a link", fi, err)
	}
	n := len(srv.RESTCalls())
	out := mustAPI(t, srv, "setup", "--config", cfg, "--state", real)
	mustContain(t, out, "Dialpad already matches the file: nothing to do")
	if w := writes(srv, n); len(w) != 0 {
		t.Errorf("run through the real path wrote %v", w)
	}
}

// TestSetupEmptyStateFile: an empty state file is named, with what to do.
func TestSetupEmptyStateFile(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	dir := t.TempDir()
	cfg := writeFile(t, dir, "ok.yaml", "websocket: {}\nsubscriptions:\n  - type: changelog\n")
	state := writeFile(t, dir, "setup.json", "")
	_, err := apiCmd(t, srv, "setup", "--config", cfg, "--state", state)
	if err == nil || !strings.HasPrefix(err.Error(), "setup: state file "+state+" is empty") || !strings.Contains(err.Error(), "remove it and run setup again") {
		t.Errorf("error %v; want the file named, and what to do", err)
	}
}

// TestSetupUnansweredCreate: a create whose answer never came (it was
// carried out) is not "run setup again to finish": the message says it may
// exist and the command that lists it, with the same --api-base.
func TestSetupUnansweredCreate(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/api/v2/websockets" {
			rp.ServeHTTP(httptest.NewRecorder(), r) // carried out…
			panic(http.ErrAbortHandler)             // …and never answered
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	dir := t.TempDir()
	cfg := writeFile(t, dir, "ok.yaml", "websocket: {}\nsubscriptions:\n  - type: changelog\n")
	state := filepath.Join(dir, "setup.json")
	_, err = runCmd(t, "setup", "--api-base", proxy.URL, "--api-key", srv.APIKey(), "--config", cfg, "--state", state)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	for _, want := range []string{
		"(no answer came, so it may have been created all the same)",
		"before running setup again, look for it with `dialpad-tunnel websockets list --api-base " + proxy.URL + "`",
		"put its id in the setup file (websocket: id: ID)",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q\nwant it to say %q", msg, want)
		}
	}
	if strings.Contains(msg, "run setup again to finish") {
		t.Errorf("error %q says a second run finishes", msg)
	}
}

// TestSetupTypeErrors: a value of the wrong kind in the setup file names
// its line, its field and, in plain words, what the field wants, and
// never shows the value (it may be a secret), before any REST call. It
// said "yaml: unmarshal errors: line 3: cannot unmarshal !!str `s3cret`
// into bool".
func TestSetupTypeErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"id as text", "websocket: {id: s3cret-id}\nsubscriptions: []\n",
			"line 1: websocket: id must be a whole number without quotes (an id such as 1234), not text"},
		{"quoted id", "websocket:\n  id: \"s3cret\"\nsubscriptions: []\n",
			"line 2: websocket: id must be a whole number without quotes (an id such as 1234), not quoted text"},
		{"secret as a list", "websocket:\n  secret: [s3cret, s3cret2]\nsubscriptions: []\n",
			"line 2: websocket: secret must be a single value (a word or text), not a list"},
		{"enabled as text", "websocket: {}\nsubscriptions:\n  - type: call\n    enabled: s3cret\n",
			"line 4: subscription 1: enabled must be true or false, not text"},
		{"enabled as quoted yes", "websocket: {}\nsubscriptions:\n  - type: call\n    enabled: \"yes\"\n",
			"line 4: subscription 1: enabled must be true or false, not quoted text"},
		{"call_states as text", "websocket: {}\nsubscriptions:\n  - type: sms\n  - type: call\n    call_states: s3cret\n",
			"line 5: subscription 2: call_states must be a list: [a, b], or one \"- item\" line each, not text"},
		{"call state as a mapping", "websocket: {}\nsubscriptions:\n  - type: call\n    call_states:\n      - hangup\n      - {s3cret: 1}\n",
			"line 6: subscription 1: each item of call_states must be a single value (a word or text), not a mapping (key: value)"},
		{"target_id through an alias", "websocket: {secret: &s s3cret}\nsubscriptions:\n  - {type: sms, target_type: office, target_id: *s}\n",
			"line 3: subscription 1: target_id must be a whole number without quotes (an id such as 1234), not text"},
		{"through a merge key", "<<: {websocket: {}, subscriptions: [{type: call, group_calls_only: s3cret}]}\n",
			"line 1: subscription 1: group_calls_only must be true or false, not text"},
		{"quoted yes through a merge key", "websocket: {}\nsubscriptions:\n  - type: call\n    <<:\n      enabled: \"yes\"\n",
			"line 5: subscription 1: enabled must be true or false, not quoted text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t, dialpadtest.Config{})
			dir := t.TempDir()
			cfg := writeFile(t, dir, "setup.yaml", tc.yaml)
			_, err := apiCmd(t, srv, "setup", "--config", cfg, "--state", filepath.Join(dir, "setup.json"), "--dry-run")
			want := "setup file " + cfg + ": " + tc.want
			if err == nil || err.Error() != want {
				t.Errorf("error %v\nwant  %s", err, want)
			}
			for _, not := range []string{"s3cret", "cannot unmarshal", "!!", "dialpad.", "[]string"} {
				if err != nil && strings.Contains(err.Error(), not) {
					t.Errorf("error %q shows %q", err, not)
				}
			}
			if len(srv.RESTCalls()) != 0 {
				t.Errorf("REST calls were made: %v", srv.RESTCalls())
			}
		})
	}
}
