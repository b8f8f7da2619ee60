package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// TestEnvValueErrorsNameTheVariable: a bad value that came from an
// environment variable is reported with the variable's name, so that a user
// who never typed the flag (a service file sets it) knows what to fix; a
// flag typed on the command line is named as typed, whatever the variable
// holds. The real binary runs each case, in an environment of its own: the
// parser keeps a variable's value in flags that live across runs in one
// process (found by a black-box review: DIALPAD_ENV=staging was reported as
// `--env "staging"`).
func TestEnvValueErrorsNameTheVariable(t *testing.T) {
	bin := buildAgent(t)
	const hook = "http://127.0.0.1:1/hook"
	listen := []string{"listen", "--api-key", "k", "--websocket-id", "1", "--forward-to", hook}
	noID := []string{"listen", "--api-key", "k", "--forward-to", hook}
	for _, tc := range []struct {
		env  string // NAME=value
		args []string
		want string // the error starts with it
		hide string // and does not contain it
	}{
		{"DIALPAD_ENV=staging", listen, `DIALPAD_ENV (for --env) "staging": want production or sandbox`, ""},
		{"DIALPAD_ENV=staging", []string{"websockets", "list", "--api-key", "k"}, `DIALPAD_ENV (for --env) "staging": want production or sandbox`, ""},
		{"DIALPAD_ENV=staging", append(listen[:len(listen):len(listen)], "--env", "sandbx"), `--env "sandbx": want production or sandbox`, ""},
		{"DIALPAD_ENV=production", append(listen[:len(listen):len(listen)], "--env", "staging"), `--env "staging": want production or sandbox`, ""},
		{"DIALPAD_TUNNEL_LOG_LEVEL=loud", listen, `DIALPAD_TUNNEL_LOG_LEVEL (for --log-level) "loud": want debug, info, warn or error`, ""},
		{"DIALPAD_TUNNEL_LOG_FORMAT=xml", listen, `DIALPAD_TUNNEL_LOG_FORMAT (for --log-format) "xml": want text or json`, ""},
		{"DIALPAD_SUBSCRIPTIONS=call:1,sms:x", noID, `DIALPAD_SUBSCRIPTIONS (for --subscription) "sms:x": `, ""},
		{"DIALPAD_SUBSCRIPTIONS=call:1,sms:x", append(noID[:len(noID):len(noID)], "--subscription", "sms:y"), `--subscription "sms:y": `, ""},
		{"DIALPAD_WEBSOCKET_ID=-5", noID, "DIALPAD_WEBSOCKET_ID (for --websocket-id) -5: want a positive id", ""},
		{"DIALPAD_WEBSOCKET_ID=0", noID, "DIALPAD_WEBSOCKET_ID (for --websocket-id) 0: want a positive id", ""},
		{"DIALPAD_WEBSOCKET_ID=-1", []string{"events", "list"}, "DIALPAD_WEBSOCKET_ID (for --websocket-id) -1: want the positive id listen runs with", ""},
		{"DIALPAD_FORWARD_TO=WSSECRETabcdef987654", []string{"listen", "--api-key", "k", "--websocket-id", "1"},
			"DIALPAD_FORWARD_TO (for --forward-to): not an absolute http or https URL", "WSSECRET"},
		{"DIALPAD_API_BASE=http://127.0.0.1:99999", listen, "DIALPAD_API_BASE (for --api-base): port 99999: want 1 to 65535", ""},
		{"DIALPAD_API_BASE=http://127.0.0.1:99999", []string{"trigger", "call"}, "trigger: DIALPAD_API_BASE (for --api-base): port 99999: want 1 to 65535", ""},
		{"DIALPAD_API_BASE=notaurl", listen, "DIALPAD_API_BASE (for --api-base): not a URL: want one such as", ""},
		{"DIALPAD_API_BASE=ftp://127.0.0.1:8089", []string{"websockets", "list", "--api-key", "k"}, "DIALPAD_API_BASE (for --api-base): scheme ftp: want http or https", ""},
		{"DIALPAD_API_BASE=http://", []string{"doctor", "--api-key", "k"}, "DIALPAD_API_BASE (for --api-base): no host", ""},
		{"DIALPAD_API_BASE=notaurl", []string{"events", "list", "--websocket-id", "1000"}, "DIALPAD_API_BASE (for --api-base): not a URL", ""},
		{"DIALPAD_TUNNEL_SPOOL=/tmp/x.spool", append(listen[:len(listen):len(listen)], "--no-spool"), "DIALPAD_TUNNEL_SPOOL (for --spool) and --no-spool contradict each other", ""},
		{"DIALPAD_STANDARD_WEBHOOKS_SECRET=n0pe-s3cret", listen, "DIALPAD_STANDARD_WEBHOOKS_SECRET (for --standard-webhooks-secret): ", "n0pe-s3cret"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, bin, tc.args...)
		cmd.Env = append(cleanEnv(t), tc.env)
		out, err := cmd.CombinedOutput()
		cancel()
		msg := strings.TrimPrefix(strings.TrimSpace(string(out)), "dialpad-tunnel: ")
		if err == nil || !strings.HasPrefix(msg, tc.want) {
			t.Errorf("%s dialpad-tunnel %s: %v\n%s\nwant an error starting %q", tc.env, strings.Join(tc.args, " "), err, out, tc.want)
		} else if tc.hide != "" && strings.Contains(msg, tc.hide) {
			t.Errorf("%s dialpad-tunnel %s: %s shows %q", tc.env, strings.Join(tc.args, " "), msg, tc.hide)
		}
	}
}

// cleanEnv is the test's environment without a DIALPAD_ variable, with a
// state directory of the test's own.
func cleanEnv(t *testing.T) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DIALPAD_") && !strings.HasPrefix(kv, "XDG_STATE_HOME=") {
			env = append(env, kv)
		}
	}
	return append(env, "XDG_STATE_HOME="+t.TempDir())
}

// TestAPIBaseBadPortRefused: an --api-base whose port cannot be dialled
// is refused at start by every command that takes it, as a handler URL's
// is, rather than retried without end ("invalid port").
func TestAPIBaseBadPortRefused(t *testing.T) {
	const bad = "http://127.0.0.1:99999"
	for _, args := range [][]string{
		{"listen", "--api-key", "k", "--websocket-id", "1", "--forward-to", "http://127.0.0.1:1/hook", "--api-base", bad},
		{"listen", "--api-key", "k", "--create", "--events", "call", "--forward-to", "http://127.0.0.1:1/hook", "--api-base", bad},
		{"websockets", "list", "--api-key", "k", "--api-base", bad},
		{"subscriptions", "list", "--api-key", "k", "--api-base", bad},
		{"doctor", "--api-key", "k", "--api-base", bad},
		{"events", "list", "--websocket-id", "1", "--api-base", bad},
		{"trigger", "--api-base", bad, "call"},
	} {
		r := start(t, args...)
		err := r.wait(t, 10*time.Second)
		if want := "--api-base: port 99999: want 1 to 65535"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: error %v, want one with %q", args, err, want)
		}
	}
}

// TestAPIBaseBadValueRefused: an --api-base that cannot be an API base is
// refused at start by every command that takes it, with a message that
// names the flag (the REST client's "dialpad: config: BaseURL is not a
// valid URL" named neither the flag nor the variable, and `events list`
// took "notaurl" to name its spool; found by a black-box review). A
// password in it is never shown.
func TestAPIBaseBadValueRefused(t *testing.T) {
	const hook = "http://127.0.0.1:1/hook"
	commands := [][]string{
		{"listen", "--api-key", "k", "--websocket-id", "1", "--forward-to", hook},
		{"listen", "--api-key", "k", "--create", "--events", "call", "--forward-to", hook},
		{"websockets", "list", "--api-key", "k"},
		{"websockets", "create", "--api-key", "k"},
		{"subscriptions", "list", "--api-key", "k"},
		{"webhooks", "list", "--api-key", "k"},
		{"doctor", "--api-key", "k"},
		{"events", "list", "--websocket-id", "1"},
	}
	for _, tc := range []struct{ value, want string }{
		{"notaurl", "--api-base: not a URL: want one such as https://dialpad.com or http://127.0.0.1:8089"},
		{"127.0.0.1:8089", "--api-base: not a URL: want one such as"},
		{"localhost:8089", "--api-base: not a URL: want one such as"},
		{"ftp://127.0.0.1:8089", "--api-base: scheme ftp: want http or https, as in a URL such as"},
		{"http://", "--api-base: no host: want a URL such as"},
		{"http://:8089", "--api-base: no host: want a URL such as"},
		{"http://127.0.0.1:abc", "--api-base: its port is not a number: want 1 to 65535"},
		{"http://user:pa55word@127.0.0.1:8089", "--api-base: want no user or password, query or fragment in it"},
		{"http://127.0.0.1:8089?pa55word", "--api-base: want no user or password, query or fragment in it"},
		{"http://127.0.0.1:8089#", "--api-base: want no user or password, query or fragment in it"},
		{"http://@127.0.0.1:8089", "--api-base: want no user or password, query or fragment in it"},
		{"http://127.0.0.1:", "--api-base: its port is empty"},
	} {
		for _, cmd := range commands {
			args := append(cmd[:len(cmd):len(cmd)], "--api-base", tc.value)
			_, err := runCLI(t, args...)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "pa55word") {
				t.Errorf("%q: error %v, want one starting %q", args, err, tc.want)
			}
		}
	}
}

// TestDurationBeyondLongest: a duration that only overflows is said to be
// too long, with the longest there is, not "want a duration" (it is one);
// one that is not a duration still gets that.
func TestDurationBeyondLongest(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"99999999h", "listen: --max-age cannot take that value: it is beyond the longest duration, 2562047h (about 292 years)"},
		{"99999999999999999999ns", "listen: --max-age cannot take that value: it is beyond the longest duration, 2562047h"},
		{"1d", "listen: --max-age cannot take that value: want a duration such as 30s or 5m"},
		{"1.5x", "listen: --max-age cannot take that value: want a duration such as 30s or 5m"},
	} {
		_, err := runCmd(t, "listen", "--max-age", tc.value)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("--max-age %s: error %v, want %q", tc.value, err, tc.want)
		}
	}
}

// TestEventsShowUnknownTypeAndHugeRetryAfter: an event of a type an older
// agent could not tell is listed and shown with the key "other", as the
// agent keys it now, not as "other:" as if cut off; a Retry-After beyond a day is shown as "more than 24h", not as the
// saturated 2562047h47m16.854775807s (found by a black-box review).
func TestEventsShowUnknownTypeAndHugeRetryAfter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	var id string
	spoolBatch(t, path, func(d *spool.Disk) {
		ev := spool.Event{ID: "0badcafe-2", Key: "other:", Body: []byte(`{"x":1}`), Received: time.Now()}
		if err := d.Append(ev, nil); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got, err := d.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id = got.ID
		tried := []spool.Attempt{
			{At: time.Now(), Status: 503, Duration: time.Millisecond, RetryAfter: time.Duration(1<<63 - 1)},
			{At: time.Now(), Status: 429, Duration: time.Millisecond, RetryAfter: 90 * time.Second},
		}
		d.Dead(got, "gave up", spool.Keep(tried))
	})
	list := mustCLI(t, "events", "list", "--spool", path)
	if !strings.Contains(list, " other ") || strings.Contains(list, "other:") {
		t.Errorf("events list:\n%s\nwant the key shown as other", list)
	}
	show := mustCLI(t, "events", "show", "--spool", path, id)
	for _, want := range []string{"other\n", "Retry-After more than 24h (listen waits at most --retry-wait-max)", "Retry-After 1m30s"} {
		if !strings.Contains(show, want) {
			t.Errorf("events show lacks %q:\n%s", want, show)
		}
	}
	if strings.Contains(show, "2562047h") {
		t.Errorf("events show:\n%s\nshows the saturated duration", show)
	}
}
