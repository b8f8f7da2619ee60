package main

import (
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/urfave/cli/v2"
)

// TestListenRefusesBadFlagValues: a flag value out of its range stops
// listen at start, before any REST call, with an error that names the
// flag and what it takes.
func TestListenRefusesBadFlagValues(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	const hook = "http://127.0.0.1:1/hook"
	listen := func(extra ...string) []string { return listenArgs(srv, wsID, hook, extra...) }
	const notState = `: not a call state (lower-case words joined by _, such as voicemail_uploaded)`
	for _, tc := range []struct {
		args []string
		want string // the error starts with it
		hide string // and does not contain it
	}{
		// A state this version does not know is kept (TestListenUnknownCallState);
		// what no state looks like is refused, with the one it may be a typo of.
		{listen("--call-states", "ring ing"), `--call-states "ring ing"` + notState + "; did you mean ringing?; known states: admin, admin_recording,", ""},
		{listen("--call-states", "ringing,hangup!"), `--call-states "hangup!"` + notState + "; did you mean hangup?", ""},
		{listen("--call-states", "ringing,2nd_leg"), `--call-states "2nd_leg"` + notState + "; known states: admin,", ""},
		{createArgs(srv, hook, "--events", "call", "--call-states", "ring ing"), `--call-states "ring ing"` + notState, ""},
		{listen("--concurrency", "0"), "--concurrency 0: want 1 to 4096", ""},
		{listen("--env", "staging"), `--env "staging": want production or sandbox`, ""}, // with --api-base too
		{listen("--user-agent", "a\nb"), `--user-agent "a\nb": not a valid header value`, ""},
		{listen("--content-type-jwt", "x\x00"), `--content-type-jwt "x\x00": not a valid header value`, ""},
		{createArgs(srv, hook, "--events", "call", "--header", "X-Dialpad-Tunnel-Attempt: 99"), "--header: X-Dialpad-Tunnel-Attempt is the tunnel's own header", ""},
		{listen("--procs", "100000"), "--procs 100000: want 0 (all cores) to " + strconv.Itoa(runtime.NumCPU()) + " (the cores", ""},
		{listen("--concurrency", "-3"), "--concurrency -3: want 1 to 4096", ""},
		{listen("--concurrency", "1000000"), "--concurrency 1000000: want 1 to 4096", ""},
		{listen("--memory-limit-mib", "17592186044416"), "--memory-limit-mib 17592186044416: want 0 (none) to 1048576 (1 TiB)", ""},
		{listen("--header", "X-Dialpad-Tunnel-Attempt: 99"), "--header: X-Dialpad-Tunnel-Attempt is the tunnel's own header and cannot be replaced", ""},
		{listen("--header", "Content-Length: 5"), "--header: Content-Length is set from the body and may not be given", ""},
		{listen("--max-attempts", "-1"), "--max-attempts -1: want 0 (until --max-age) or more", ""},
		{listen("--timeout", "0"), "--timeout 0s: want more than 0", ""},
		{listen("--retry-wait-min", "0"), "--retry-wait-min 0s: want more than 0", ""},
		{listen("--retry-wait-max", "-1s"), "--retry-wait-max -1s: want more than 0", ""},
		{listen("--retry-wait-min", "1m"), "--retry-wait-min 1m0s: want at most --retry-wait-max (30s)", ""},
		{listen("--rotate-before", "-1m"), "--rotate-before -1m0s: want more than 0", ""},
		{listen("--reconnect-wait-min", "0"), "--reconnect-wait-min 0s: want 1ms to 1h", ""},
		{listen("--reconnect-wait-min", "2m"), "--reconnect-wait-min 2m0s: want at most --reconnect-wait-max (1m0s)", ""},
		{listen("--reconnect-wait-max", "1000000h"), "--reconnect-wait-max 1000000h0m0s: want 1ms to 24h", ""},
		{listen("--dedupe-window", "10ms"), "--dedupe-window 10ms: want 1s to 24h", ""},
		{listen("--max-frame-bytes", "0"), "--max-frame-bytes 0: want 1024 (1 KiB) to 67108864 (64 MiB)", ""},
		{listen("--max-frame-bytes", "8"), "--max-frame-bytes 8: want 1024 (1 KiB) to 67108864 (64 MiB)", ""},
		{listen("--max-frame-bytes", "67108865"), "--max-frame-bytes 67108865: want 1024 (1 KiB) to 67108864 (64 MiB)", ""},
		{listen("--drain-timeout", "-1s"), "--drain-timeout -1s: want more than 0", ""},
		{listen("--memory-limit-mib", "-5"), "--memory-limit-mib -5: want 0 (none) to 1048576 (1 TiB)", ""},
		{listen("--procs", "-1"), "--procs -1: want 0 (all cores) to ", ""},
		{listen("--status-interval", "-1s"), "--status-interval -1s: want 0 (never) or 100ms or more", ""},
		{listen("--status-interval", "1ns"), "--status-interval 1ns: want 0 (never) or 100ms or more", ""},
		{listen("--status-interval", "99ms"), "--status-interval 99ms: want 0 (never) or 100ms or more", ""},
		{listen("--max-age", "0"), "--max-age 0s: want more than 0", ""},
		{listen("--keep-delivered", "-1"), "--keep-delivered -1: want 0 (none) or more", ""},
		{listen("--stop-on-status", "200"), `--stop-on-status "200": want HTTP statuses from 400 to 599, comma-separated, such as 401,403,404, or none`, ""},
		{listen("--stop-on-status", ""), `--stop-on-status "": want HTTP statuses from 400 to 599, comma-separated, such as 401,403,404, or none`, ""},
		{listen("--non-event-frames", "drop"), `--non-event-frames "drop": want skip, keep or forward`, ""},
		{listen("--non-event-frames", "keep", "--no-spool"), "--non-event-frames keep keeps frames in the spool; with --no-spool there is none", ""},
		{listen("--keep-delivered-for", "-1h"), "--keep-delivered-for -1h0m0s: want more than 0", ""},
		{listen("--keep-delivered", "3", "--no-spool"), "--keep-delivered keeps delivered events in the spool; with --no-spool there is none", ""},
		{listen("--keep-delivered-for", "1h", "--no-spool"), "--keep-delivered-for keeps delivered events in the spool; with --no-spool there is none", ""},
		{listen("--events", "sms", "--call-states", "hangup"), "--call-states filters call events, but --events leaves them out: add call to --events, or drop --call-states", ""},
		{[]string{"listen", "--api-base", srv.URL(), "--api-key", srv.APIKey(), "--websocket-id", "-5", "--forward-to", hook},
			"--websocket-id -5: want a positive id", ""},
		// 0, given, is no id either: the same message as -5, not "nothing
		// to listen to", which is for no --websocket-id at all.
		{[]string{"listen", "--api-base", srv.URL(), "--api-key", srv.APIKey(), "--websocket-id", "0", "--forward-to", hook},
			"--websocket-id 0: want a positive id", ""},
		{[]string{"listen", "--api-base", srv.URL(), "--api-key", srv.APIKey(), "--forward-to", hook},
			"nothing to listen to: pass --websocket-id or --subscription TYPE:ID", ""},

		{createArgs(srv, hook, "--events", "call", "--target-type", "office", "--target-id", "-2"), "--target-id -2: want a positive id", ""},
		{createArgs(srv, hook, "--events", "call", "--concurrency", "0"), "--concurrency 0: want 1 to 4096", ""},
		// A handler URL is not shown, only what is wrong with it: a path
		// may hold a token, and a value that is no URL may be a secret
		// given to the wrong flag.
		{listenArgs(srv, wsID, "http://127.0.0.1:99999/hook"), "--forward-to: port 99999: want 1 to 65535", "/hook"},
		{listenArgs(srv, wsID, "http://user:pw@127.0.0.1:0/hook"), "--forward-to: port 0: want 1 to 65535", ":pw@"},
		{listenArgs(srv, wsID, "http://127.0.0.1:0/hook?token=qu3ry-s3cret"), "--forward-to: port 0: want 1 to 65535", "qu3ry-s3cret"},
		{listenArgs(srv, wsID, "ftp://127.0.0.1/hook?token=qu3ry-s3cret"), "--forward-to: not an absolute http or https URL such as http://localhost:3000/hook " + notShown, "qu3ry-s3cret"},
		{listenArgs(srv, wsID, "ftp://x/SECRETPATH"), "--forward-to: not an absolute http or https URL", "SECRETPATH"},
		{listenArgs(srv, wsID, "WSSECRETabcdef987654"), "--forward-to: not an absolute http or https URL", "WSSECRET"},
		{listenArgs(srv, wsID, "http://127.0.0.1:http/hook"), "--forward-to: its port is not a number from 1 to 65535 " + notShown, ""},
		{listen("--route", "call=http://127.0.0.1:70000/calls"), "--route call=…: port 70000: want 1 to 65535", "/calls"},
		{listen("--route", "call=http://127.0.0.1:3000/a", "--route", "call=http://127.0.0.1:70000/b"), "--route call=… (route call-2): port 70000: want 1 to 65535", "/b"},
		// The same route twice would POST every call event twice to one handler.
		{listen("--route", "call=http://127.0.0.1:3000/t0k3n", "--route", "CALL=http://127.0.0.1:3000/t0k3n"), "--route call=… is given twice with the same URL (routes call and call-2)", "t0k3n"},
		{listen("--route", "sms=http://Localhost:3000/t0k3n", "--route", "sms=HTTP://localhost:3000/t0k3n"), "--route sms=… is given twice with the same URL (routes sms and sms-2)", "t0k3n"},
		{listen("--route", "call=http://localhost/t0k3n", "--route", "call=http://localhost:80/t0k3n"), "--route call=… is given twice with the same URL (routes call and call-2)", "t0k3n"},
		{listen("--route", "call=https://localhost:443/t0k3n", "--route", "call=https://localhost/t0k3n"), "--route call=… is given twice with the same URL (routes call and call-2)", "t0k3n"},
		{listen("--route", "call=WSSECRETabcdef987654"), "--route call=…: not an absolute http or https URL such as http://localhost:3000/hook " + notShown, "WSSECRET"},
		{listen("--route", "call=ftp://u:PW@x/SECRETPATH"), "--route call=…: not an absolute http or https URL", "SECRET"},
		{createArgs(srv, "http://127.0.0.1:99999/hook", "--events", "call"), "--forward-to: port 99999: want 1 to 65535", "/hook"},
		// A header's value and a route's URL may be secrets: never shown.
		{listen("--header", "Authorization Bearer s3cret-h"), "--header: want 'Name: value'", "s3cret-h"},
		{listen("--header", "X-A: 1", "--header", "Authorization Bearer s3cret-h"), "--header (the 2nd): want 'Name: value'", "s3cret-h"},
		{listen("--route-header", "sms=Authorization Bearer s3cret-r"), "--route-header sms=…: want TYPE=Name: value", "s3cret-r"},
		{listen("--route-header", "Authorization: Bearer s3cret=r"), "--route-header: the part before the first '=' is not an event type", "s3cret"},
		{listen("--route-header", "Authorization Bearer s3cret-r"), "--route-header: want TYPE=Name: value", "s3cret-r"},
		{listen("--route-header", "smss=X-A: 1"), `--route-header smss=…: dialpad: unknown subscription type "smss"`, ""},
		{listen("--route", "http://u:s3cret-p@127.0.0.1/calls"), "--route: want TYPE=URL", "s3cret-p"},
		{listen("--route", "calll=http://u:s3cret-p@127.0.0.1/calls"), `--route calll=…: dialpad: unknown subscription type "calll"`, "s3cret-p"},
		{listen("--route-header", "AbCdS3cretXy=="), "--route-header: the part before the first '=' is not an event type", "S3cret"},
		{listen("--route-header", "AbCdSecretXy=="), "--route-header: the part before the first '=' is not an event type", "Secret"},
		{listen("--header", "X-Key=s3cret:x"), "--header: want 'Name: value'", "s3cret"},
		{listen("--route", "call=alice:s3cret@localhost:3000/calls"), "--route call=…: not an absolute http or https URL", "s3cret"},
		{listenArgs(srv, wsID, "http://u:s3cret#x@localhost:3000"), "--forward-to: it does not parse as a URL " + notShown + "; a '#', '/', '?' or '@' in a password must be percent-encoded", "s3cret"},
		{listen("--route", "call=http://u:p/s3cret@127.0.0.1/"), "--route call=…: it does not parse as a URL (the value is not shown", "s3cret"},
	} {
		r := start(t, tc.args...)
		err := r.wait(t, 10*time.Second)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args[5:], err, tc.want)
		} else if tc.hide != "" && strings.Contains(err.Error(), tc.hide) {
			t.Errorf("%v: error %v shows %q", tc.args[5:], err, tc.hide)
		}
	}
	if calls := srv.RESTCalls(); len(calls) != 0 {
		t.Errorf("bad flag values made %d REST calls: %v", len(calls), calls)
	}
}

// TestCallStatesAllWithoutCalls: --call-states all filters nothing, so it
// goes with an --events that leaves calls out (it was refused as if it
// filtered calls, a regression of the check for --call-states hangup).
func TestCallStatesAllWithoutCalls(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	r := start(t, listenArgs(srv, wsID, "http://127.0.0.1:1/hook", "--no-spool", "--events", "sms", "--call-states", "all")...)
	r.waitConnected(t, srv, 1)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
}

// TestListenUnknownCallState: --call-states keeps a well-formed state this
// version does not know (Dialpad may have added it: its events are
// forwarded), and warns at start for each one, naming it and the known
// state it may be a typo of. It was refused, so a state added since could
// not be filtered on without an upgrade.
func TestListenUnknownCallState(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, nil)
	r := start(t, listenArgs(srv, wsID, h.URL, "--no-spool", "--call-states", "Warm-Transfer,hangpu,hangup")...)
	r.waitConnected(t, srv, 1)
	srv.Publish("call", []byte(`{"call_id":1,"state":"ringing"}`))
	srv.Publish("call", []byte(`{"call_id":2,"state":"warm_transfer"}`))
	srv.Publish("call", []byte(`{"call_id":3,"state":"hangup"}`))
	got := h.waitRequests(t, 2, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, req := range got {
		states = append(states, string(req.body))
	}
	slices.Sort(states) // calls of different ids may arrive in either order
	if want := []string{`{"call_id":2,"state":"warm_transfer"}`, `{"call_id":3,"state":"hangup"}`}; !slices.Equal(states, want) {
		t.Errorf("handler got %q, want %q", states, want)
	}
	// The ringing call came first on the connection: read and left out
	// before the two delivered, and never forwarded.
	if n := h.count(); n != 2 {
		t.Errorf("handler got %d events, want 2: ringing is no state asked for", n)
	}
	out := r.stdout.String()
	mustContain(t, logLine(t, out, "stopped"), "filtered=1")
	line := logLine(t, out, `"warm_transfer" is not a call state`)
	mustContain(t, line, "WARN")
	mustContain(t, line, `--call-states "warm_transfer" is not a call state this version of dialpad-tunnel knows: it filters as given, so it matches no call event unless Dialpad sends that state (one added since this version)`)
	if strings.Contains(line, "did you mean") {
		t.Errorf("warning for warm_transfer suggests a state: %s", line)
	}
	mustContain(t, logLine(t, out, `"hangpu" is not a call state`), "; did you mean hangup?")
	if strings.Contains(out, `"hangup" is not`) {
		t.Errorf("a known state is warned of:\n%s", out)
	}
}

// TestListenCreateUnknownCallState: listen --create sends a well-formed
// state it does not know to Dialpad, which decides (the fake refuses it),
// after the same warning.
func TestListenCreateUnknownCallState(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	r := start(t, createArgs(srv, "http://127.0.0.1:1/hook", "--no-spool", "--events", "call", "--call-states", "hangpu")...)
	err := r.wait(t, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), `"hangpu"`) {
		t.Fatalf("listen --create ended with %v, want the fake's refusal of hangpu", err)
	}
	mustContain(t, r.stdout.String(), `--call-states "hangpu" is not a call state this version of dialpad-tunnel knows`)
}

// TestSubscriptionsCallStates: `subscriptions create|update` refuse a
// --call-states value that no state looks like before sending anything;
// a well-formed state this version does not know is sent to Dialpad, which
// decides (the fake refuses it, as Dialpad would a state it does not
// know either), with a warning on stderr that names it and the known
// state it may be a typo of. It was refused before any request, so a
// state Dialpad added since could not be used.
func TestSubscriptionsCallStates(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	subID, err := srv.AddSubscription("call", wsID, dialpadtest.SubscriptionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(subID, 10)
	create := []string{"subscriptions", "create", "--type", "call", "--endpoint-id", strconv.FormatInt(wsID, 10)}
	update := []string{"subscriptions", "update", "--type", "call"}
	with := func(cmd []string, rest ...string) []string {
		return append(append(append(cmd[:2:2], apiArgs(srv)...), cmd[2:]...), rest...)
	}
	for _, args := range [][]string{
		with(create, "--call-states", "ring ing"),
		with(update, "--call-states", "Hangup,hang up", id),
	} {
		_, _, err := cliErr(t, args...)
		if want := `--call-states "`; err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "not a call state") {
			t.Errorf("%v: error %v, want %q… not a call state", args, err, want)
		}
	}
	if calls := srv.RESTCalls(); len(calls) != 0 {
		t.Errorf("malformed call states made %d REST calls: %v", len(calls), calls)
	}
	for _, args := range [][]string{
		with(create, "--call-states", "hangpu"),
		with(update, "--call-states", "Hangup,hangpu", id),
	} {
		n := len(srv.RESTCalls())
		_, stderr, err := cliErr(t, args...)
		if err == nil || !strings.Contains(err.Error(), "hangpu") {
			t.Errorf("%v: error %v, want the fake's refusal of hangpu", args, err)
		}
		if len(srv.RESTCalls()) != n+1 {
			t.Errorf("%v: made %d REST calls, want 1 (sent to Dialpad)", args, len(srv.RESTCalls())-n)
		}
		mustContain(t, stderr, `warning: --call-states "hangpu" is not a call state this version of dialpad-tunnel knows: it is sent to Dialpad as given, which refuses it unless it is a state added since; did you mean hangup?`)
	}
}

// TestSubscriptionFlagErrorsNameFlags: a bad subscription option, or an
// API key pasted with its newline, is named by its flag, not by the setup
// file's key or a Go field (found by a black-box review); nothing is sent.
func TestSubscriptionFlagErrorsNameFlags(t *testing.T) {
	srv, _ := fakeDialpad(t, dialpadtest.Config{}, "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--type", "sms", "--endpoint-id", "1000", "--sms-direction", "sideways"}, `sms subscription: --sms-direction "sideways": want one of all, inbound, outbound`},
		{[]string{"--type", "call", "--endpoint-id", "1000", "--target-type", "office"}, "call subscription: --target-type and --target-id go together"},
	} {
		_, err := apiCmd(t, srv, "subscriptions create", tc.args...)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "k3y") {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
	_, err := runCmd(t, "subscriptions", "create", "--api-base", srv.URL(), "--api-key", "k3y\r", "--type", "call", "--endpoint-id", "1000")
	if want := "--api-key has a line break in it"; err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "k3y") {
		t.Errorf("a key with a line break: %v, want %q and the key not shown", err, want)
	}
	if calls := srv.RESTCalls(); len(calls) != 0 {
		t.Errorf("bad values made %d REST calls: %v", len(calls), calls)
	}
}

// TestParseCallStates: states are forgiven case and "-", deduplicated, and
// "all" is one of them.
func TestParseCallStates(t *testing.T) {
	got, err := parseCallStates([]string{"Ringing, hangup", "voicemail-uploaded", "ringing", "all"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "ringing,hangup,voicemail_uploaded,all"; strings.Join(got, ",") != want {
		t.Errorf("got %q, want %q", strings.Join(got, ","), want)
	}
}

// TestListenHelpReadsNaturally: no usage text is taken apart by urfave/cli's
// backtick placeholders.
func TestListenHelpReadsNaturally(t *testing.T) {
	out, err := runCmd(t, "listen", "--help")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "--keep-delivered value")
	mustContain(t, out, "kept in the spool for events show and events replay (0: none)")
	if strings.Contains(out, "`") || strings.Contains(out, "show|replay") {
		t.Errorf("listen --help shows a backtick placeholder:\n%s", out)
	}
}

// TestSetProcs: --procs N sets GOMAXPROCS, 0 leaves the runtime's own
// choice as it is, more than the cores or less than 0 is refused, and a
// GOMAXPROCS in the environment wins over both.
func TestSetProcs(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })

	t.Setenv("GOMAXPROCS", "")
	cores := runtime.NumCPU()
	for _, tc := range []struct{ n, want int }{{1, 1}, {0, 1}, {cores, cores}, {0, cores}} {
		if err := setProcs(tc.n); err != nil {
			t.Fatalf("setProcs(%d): %v", tc.n, err)
		}
		if got := runtime.GOMAXPROCS(0); got != tc.want {
			t.Fatalf("after setProcs(%d) GOMAXPROCS is %d, want %d", tc.n, got, tc.want)
		}
	}
	for _, n := range []int{-1, cores + 1} {
		if err := setProcs(n); err == nil || !strings.Contains(err.Error(), "want 0 (all cores) to ") {
			t.Errorf("setProcs(%d) = %v, want an error with the range", n, err)
		}
	}
	t.Setenv("GOMAXPROCS", "2")
	if err := setProcs(1); err != nil {
		t.Fatal(err)
	}
	if got := runtime.GOMAXPROCS(0); got != 2 {
		t.Fatalf("with GOMAXPROCS=2 in the environment, setProcs(1) set it to %d", got)
	}
}

// TestBenchAndSoakRefuseBadFlagValues: bench and soak refuse a flag value
// out of its range at once, naming the flag and what it takes, rather than
// running with a default (soak --rate 0 published at 500/s) or waiting for
// an agent that refused it (bench --concurrency 0 waited 31s).
func TestBenchAndSoakRefuseBadFlagValues(t *testing.T) {
	cores := strconv.Itoa(runtime.NumCPU())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--events", "0"}, "--events 0: want 1 to 1000000"},
		// Every event is made before the run: 2e9 ran out of memory, and
		// 1e11 was refused as if it were below 1.
		{[]string{"bench", "--events", "2000000000"}, "--events 2000000000: want 1 to 1000000"},
		{[]string{"bench", "--events", "100000000000"}, "--events 100000000000: want 1 to 1000000"},
		// So are the latency phase's: --rate times --rate-for panicked
		// (makeslice: len out of range).
		{[]string{"bench", "--rate", "100000", "--rate-for", "1000000h"}, "--rate 100000 with --rate-for 1000000h0m0s: the latency phase would need 360000000100000 events, want at most 1000000 (all made before the run starts): lower one of them"},
		{[]string{"bench", "--concurrency", "0"}, "--concurrency 0: want 1 to 4096"},
		{[]string{"bench", "--concurrency", "5000"}, "--concurrency 5000: want 1 to 4096"},
		{[]string{"bench", "--procs", "100000"}, "--procs 100000: want 0 (all cores) to " + cores + " (the cores this process may use)"},
		{[]string{"bench", "--rate", "0"}, "--rate 0: want 1 to 100000"},
		{[]string{"bench", "--rate-for", "500ms"}, "--rate-for 500ms: want 1s or more"},
		{[]string{"bench", "--backlog", "-1"}, "--backlog -1: want 0 (skip) to 2147483647"},
		{[]string{"bench", "--memory-limit-mib", "-1"}, "--memory-limit-mib -1: want 0 (none) to 1048576 (1 TiB)"},
		{[]string{"bench", "--in-process", "--events", "-5"}, "--events -5: want 1 to 1000000"},
		{[]string{"soak", "--duration", "-5s"}, "--duration -5s: want more than 0"},
		{[]string{"soak", "--duration", "0"}, "--duration 0s: want more than 0"},
		{[]string{"soak", "--rate", "0"}, "--rate 0: want 1 to 100000"},
		{[]string{"soak", "--rate", "100001"}, "--rate 100001: want 1 to 100000"},
		{[]string{"soak", "--token-ttl", "0"}, "--token-ttl 0s: want 100ms or more (Dialpad's is 1h)"},
		{[]string{"soak", "--token-ttl", "99ms"}, "--token-ttl 99ms: want 100ms or more (Dialpad's is 1h)"},
		{[]string{"soak", "--fault-every", "0"}, "--fault-every 0s: want more than 0"},
		{[]string{"soak", "--ping-interval", "0"}, "--ping-interval 0s: want more than 0"},
		{[]string{"soak", "--pong-wait", "-1s"}, "--pong-wait -1s: want more than 0"},
		// Flags that would do nothing are refused, not ignored.
		{[]string{"bench", "--in-process", "--backlog", "1000"}, "--backlog needs the agent as its own process: drop --in-process"},
		{[]string{"bench", "--in-process", "--memory-limit-mib", "40"}, "--memory-limit-mib needs the agent as its own process: drop --in-process"},
		{[]string{"soak", "--fault-every", "100ms"}, "--fault-every spaces the faults of --faults: add --faults"},
		{[]string{"soak", "--ping-interval", "300ms"}, "--ping-interval 300ms: want less than half --pong-wait (300ms)"},
		// --pong-wait alone is not blamed on an interval never typed.
		{[]string{"soak", "--pong-wait", "1ms"}, "--pong-wait 1ms: want more than twice --ping-interval (100ms, its default)"},
		// emulator already refused it; soak says the same.
		{[]string{"emulator", "--token-ttl", "0"}, "--token-ttl 0s: want 100ms or more (Dialpad's is 1h)"},
	} {
		r := start(t, tc.args...)
		err := r.wait(t, 10*time.Second)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
		if out := r.stdout.String(); out != "" {
			t.Errorf("%v printed %q", tc.args, out)
		}
	}
}

// TestRangesCoverNumericFlags: every numeric flag of listen, bench and soak has a
// range, and every range names one of them.
func TestRangesCoverNumericFlags(t *testing.T) {
	for _, tc := range []struct {
		cmd    *cli.Command
		ranges []flagRange
	}{
		{listenCommand(), listenRanges},
		{benchCommand(), benchRanges},
		{soakCommand(), soakRanges},
	} {
		numeric := map[string]bool{}
		for _, f := range tc.cmd.Flags {
			switch f := f.(type) {
			case *cli.IntFlag:
				numeric[f.Name] = true
			case *cli.Int64Flag:
				numeric[f.Name] = true
			case *cli.DurationFlag:
				numeric[f.Name] = true
			}
		}
		ranged := map[string]bool{}
		for _, r := range tc.ranges {
			if !numeric[r.flag] {
				t.Errorf("%s: ranges name --%s, not a numeric flag of it", tc.cmd.Name, r.flag)
			}
			ranged[r.flag] = true
		}
		for name := range numeric {
			if !ranged[name] {
				t.Errorf("%s: --%s has no range", tc.cmd.Name, name)
			}
		}
	}
}

// TestUnknownEnvRefused: an unknown --env is refused by every command that
// takes it, also when --api-base overrides it, before any REST call.
func TestUnknownEnvRefused(t *testing.T) {
	srv, _ := fakeDialpad(t, dialpadtest.Config{}, "")
	const want = `--env "staging": want production or sandbox`
	for _, words := range []string{"websockets list", "subscriptions list", "migrate --rollback", "events list --websocket-id 1"} {
		_, err := apiCmd(t, srv, words, "--env", "staging")
		if err == nil || err.Error() != want {
			t.Errorf("%s --env staging --api-base …: error %v, want %q", words, err, want)
		}
	}
	_, err := runCmd(t, "websockets", "list", "--api-key", "k", "--env", "staging")
	if err == nil || err.Error() != want {
		t.Errorf("websockets list --env staging: error %v, want %q", err, want)
	}
	if calls := srv.RESTCalls(); len(calls) != 0 {
		t.Errorf("an unknown --env made %d REST calls: %v", len(calls), calls)
	}
}

// TestListenRefusesEmptySecrets: a secret flag set but empty, on the
// command line or by its environment variable, is refused at start: taken
// for none it would silently turn verification or signing off.
func TestListenRefusesEmptySecrets(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	const hook = "http://127.0.0.1:1/hook"
	for _, tc := range []struct {
		flag, env, without string
	}{
		{"verify-secret", "DIALPAD_VERIFY_SECRET", "to verify no signature"},
		{"sign-secret", "DIALPAD_SIGN_SECRET", "to re-sign nothing"},
		{"standard-webhooks-secret", "DIALPAD_STANDARD_WEBHOOKS_SECRET", "to add no Standard Webhooks headers"},
	} {
		want := "--" + tc.flag + " is empty (given as --" + tc.flag + "= or by an empty " + tc.env + "): give the secret, or leave both out " + tc.without
		for _, how := range []string{"flag", "env"} {
			args := listenArgs(srv, wsID, hook)
			if how == "flag" {
				args = append(args, "--"+tc.flag+"=")
			} else {
				t.Setenv(tc.env, "")
			}
			r := start(t, args...)
			if err := r.wait(t, 10*time.Second); err == nil || err.Error() != want {
				t.Errorf("%s by %s: error %v, want %q", tc.flag, how, err, want)
			}
			os.Unsetenv(tc.env) // t.Setenv restores it at the end
		}
	}
	if calls := srv.RESTCalls(); len(calls) != 0 {
		t.Errorf("empty secrets made %d REST calls: %v", len(calls), calls)
	}
}

// TestMaxFrameBytesInBytes: --max-frame-bytes says in --help that it is a
// number of bytes, and a value with a unit is refused with the same word
// (--help said "1 KiB to 64 MiB", and 16MiB got "want a whole number";
// found by a black-box review).
func TestMaxFrameBytesInBytes(t *testing.T) {
	const want = "listen: --max-frame-bytes cannot take that value: want a whole number, in bytes (16 MiB is 16777216)"
	for _, v := range []string{"16MiB", "1.5"} {
		if _, err := runCmd(t, "listen", "--max-frame-bytes", v); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("--max-frame-bytes %s: error %v, want %q", v, err, want)
		}
	}
	out, err := runCmd(t, "listen", "--help")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "largest websocket frame accepted, in bytes: 1024 (1 KiB) to 67108864 (64 MiB) (default: 8388608)")
}

// TestListenRefusesSecretWithLineBreak: a --verify-secret, --sign-secret
// or --standard-webhooks-secret with a line break (a secret file read
// whole, with its newline) is refused at start, naming the flag and never
// the value: Dialpad's secrets are single-line, so verification would
// refuse every event (as dead letters never replayed) and re-signing would
// sign with a key no handler has; a whsec_ secret is one line of base64.
func TestListenRefusesSecretWithLineBreak(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	const hook = "http://127.0.0.1:1/hook"
	for _, tc := range []struct{ flag, env, value string }{
		{"verify-secret", "DIALPAD_VERIFY_SECRET", "s3cret-value"},
		{"sign-secret", "DIALPAD_SIGN_SECRET", "s3cret-value"},
		// Padded, it was refused as "not base64"; unpadded, the line
		// break was taken as no part of the key, silently.
		{"standard-webhooks-secret", "DIALPAD_STANDARD_WEBHOOKS_SECRET", "whsec_czNjcmV0LXZhbHVlLQ=="},
	} {
		for _, how := range []string{"flag", "env"} {
			args := listenArgs(srv, wsID, hook)
			label := "--" + tc.flag
			if how == "flag" {
				args = append(args, "--"+tc.flag, tc.value+"\n")
			} else {
				t.Setenv(tc.env, tc.value+"\r\n")
				label = tc.env + " (for --" + tc.flag + ")"
			}
			r := start(t, args...)
			err := r.wait(t, 10*time.Second)
			want := label + " has a line break in it (copied with its newline?): remove it; the secret is not shown"
			if err == nil || err.Error() != want {
				t.Errorf("%s by %s: error %v, want %q", tc.flag, how, err, want)
			}
			if err != nil && (strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "czNjcmV0")) {
				t.Errorf("%s by %s: the error shows the secret: %v", tc.flag, how, err)
			}
			os.Unsetenv(tc.env)
		}
	}
	if calls := srv.RESTCalls(); len(calls) != 0 {
		t.Errorf("secrets with a line break made %d REST calls: %v", len(calls), calls)
	}
}
