package main

import (
	"slices"
	"strings"
	"testing"
)

// TestArrangeArgs: the flags a command knows move, with their values, in
// front of its arguments; help asked for anywhere gives the command's help;
// "--" ends the flags wherever it comes; the rest stays as it was.
func TestArrangeArgs(t *testing.T) {
	cmds := newApp(nil, nil).Commands
	for _, tc := range []struct{ args, want string }{
		{"events show 3f2a9c1e --spool x.spool", "events show --spool x.spool 3f2a9c1e"},
		{"events show 3f2a9c1e --json --spool=x.spool", "events show --json --spool=x.spool 3f2a9c1e"},
		{"events show 3f2a9c1e --json=false", "events show --json=false 3f2a9c1e"},
		{"events replay a1 --since 1h b2 --dead", "events replay --since 1h --dead a1 b2"},
		{"events replay --dead a1", "events replay --dead a1"},
		{"events show a1 -- x", "events show -- a1 x"},
		{"events show a1 --spool s -- --spool", "events show --spool s -- a1 --spool"},
		{"trigger sms -count 2 call", "trigger -count 2 sms call"},
		{"trigger sms --count -1", "trigger --count -1 sms"}, // a value may start with a dash
		{"websockets get 7 --api-key k", "websockets get --api-key k 7"},
		{"websockets get -5 --api-key k", "websockets get --api-key k -- -5"}, // an id, refused as such, not a flag
		{"websockets get --api-key k -5", "websockets get --api-key k -- -5"},
		{"listen --subscription call:1 --header A:b --forward-to http://x", "listen --subscription call:1 --header A:b --forward-to http://x"},
		{"listen --subscription call:1 --subscription sms:2 --header A:b --header C:d", "listen --subscription call:1 --subscription sms:2 --header A:b --header C:d"}, // repeatable
		{"events show a1 --help", "events show --help"},
		{"websockets get 7 -h", "websockets get --help"},
		{"help events show", "events show --help"},
		{"--help events", "events --help"},
		{"events help show", "events show --help"},
		{"h", "--help"},
		{"events", "events"},
		{"listen --spool --help", "listen --help"},
		{"websockets get --help --bogus", "websockets get --help"},
		{"websockets get 1000 --json=yes -h", "websockets get --help"},
		{"help events show --spool", "events show --help"},
		{"events --bogus --help", "events --help"},
		{"listen --help=false --forward-to http://x", "listen --forward-to http://x"},
		{"websockets update 7 --secret=", "websockets update --secret= 7"},
		{"--version", "--version"},
		{"-version=true", "--version"},
		{"--version --help=s3cr3t", "--help"},
		{"-- events list", "events list"},
		{"events -- list --dead", "events list --dead"},
		{"websockets create --secret --abc", "websockets create --secret --abc"}, // a value may start with --
		{"", ""},
	} {
		got, err := arrangeArgs(cmds, append([]string{"dialpad-tunnel"}, strings.Fields(tc.args)...))
		if want := append([]string{"dialpad-tunnel"}, strings.Fields(tc.want)...); err != nil || !slices.Equal(got, want) {
			t.Errorf("%s\n got %q, %v\nwant %q", tc.args, got, err, want[1:])
		}
	}
}

// TestArrangeArgsRefuses: what the parser would take for something else,
// run without it or answer with "No help topic" is refused with what to
// do, and never with a flag's value.
func TestArrangeArgsRefuses(t *testing.T) {
	cmds := newApp(nil, nil).Commands
	for _, tc := range []struct{ args, want string }{
		{"bogus", `unknown command "bogus": dialpad-tunnel takes listen, demo, emulator,`},
		{"help lisen", `unknown command "lisen": dialpad-tunnel takes listen,`},
		{"--help lisen", `unknown command "lisen": dialpad-tunnel takes listen,`},
		{"events bogus --spool x", `unknown command "bogus": dialpad-tunnel events takes list, show, replay, purge, salvage (see dialpad-tunnel events --help)`},
		{"events help bogus", `unknown command "bogus": dialpad-tunnel events takes list,`},
		{"websockets show 7", `unknown command "show": dialpad-tunnel websockets takes list, get, create, update, delete`},
		{"events show a1 --bogus=s3cr3t", `events show: unknown flag --bogus (see dialpad-tunnel events show --help)`},
		{"events show a1 --bogus s3cr3t", `events show: unknown flag --bogus (see`},
		{"events show -bogus a1", `events show: unknown flag -bogus (see`},
		{"events show a1 --spool", `events show: --spool needs a value (one that starts with -- goes after =: --spool=VALUE) (see dialpad-tunnel events show --help)`},
		{"websockets get 7 --api-key", `websockets get: --api-key needs a value`},
		{"events show a1 --json=s3cr3t", `events show: --json takes true or false (see`},
		{"events replay a1 --since --spool s", `events replay: --since needs a value (`},
		{"subscriptions list x --tpye sms", `subscriptions list: unknown flag --tpye`},
		// The quoting hint only where the argument follows a flag's value.
		{"subscriptions list x", `subscriptions list takes no arguments, got 1 (see dialpad-tunnel subscriptions list --help)`},
		{"events purge 65eb19f3 --dead", `events purge takes no arguments, got 1 (see dialpad-tunnel events purge --help)`},
		{"listen --header X-Team: payments --forward-to http://x", `listen takes no arguments, got 1 (a flag value with spaces needs quotes) (see dialpad-tunnel listen --help)`},
		{"listen extra --forward-to http://x", `listen takes no arguments, got 1`},
		{"demo --duration 1s extra", `demo takes no arguments, got 1`},
		{"events list extra", `events list takes no arguments, got 1`},
		{"events show a1 --spo\nol x", `events show: unknown flag "--spo\nol"`},
		{"listen --spool --", `listen: --spool needs a value`},
		{"-- nosuch", `unknown command "nosuch"`},
		{"websockets update 7 --secret abc def -ghi", `websockets update: unknown flag after the value of --secret`},
		{"listen --forward-to http://x --bogus", `listen: unknown flag --bogus after the value of --forward-to (if it is part of that value, quote the value)`},
		{"listen --forward-to http://x --bogus=s3cr3t", `listen: unknown flag --bogus after the value of --forward-to`},
		{"websockets update 7 --secret abc --Def9!", `websockets update: unknown flag after the value of --secret (a value with spaces needs quotes)`},
		{"websockets create --secret --api-key", `websockets create: --secret needs a value (one that starts with -- goes after =: --secret=VALUE)`},
		{"--help=false nosuch", `unknown command "nosuch"`},
		{"--bogus", `unknown flag --bogus (see dialpad-tunnel --help)`},
		{"events --bogus=s3cr3t list", `events: unknown flag --bogus (see dialpad-tunnel events --help)`},
		{"websockets update 1000 --secret s3cr3t -def", `websockets update: unknown flag after the value of --secret (a value with spaces needs quotes)`},
		{"listen --concurrency s3cr3t", `listen: --concurrency cannot take that value: want a whole number (see`},
		{"listen --max-attempts 99999999999999999999", `listen: --max-attempts cannot take that value: it is out of range for a 64-bit whole number (see`},
		{"listen --timeout s3cr3t", `listen: --timeout cannot take that value: want a duration such as 30s or 5m`},
		{"subscriptions update 1001 --type call --enabled false", `subscriptions update: --enabled takes its value after =, as in --enabled=false`},
		// The parser would take the last one and say nothing.
		{"listen --websocket-id 1 --websocket-id 2", `listen: --websocket-id is given twice; it takes one value (a repeatable flag says so in --help) (see`},
		{"listen --forward-to http://a --forward-to=http://b", `listen: --forward-to is given twice;`},
		{"events list --spool a -spool b", `events list: -spool is given twice;`},
	} {
		_, err := arrangeArgs(cmds, append([]string{"dialpad-tunnel"}, strings.Split(strings.ReplaceAll(tc.args, " ", "\x00"), "\x00")...))
		switch {
		case err == nil:
			t.Errorf("%q: no error, want %s…", tc.args, tc.want)
		case !strings.HasPrefix(err.Error(), tc.want):
			t.Errorf("%q: %v\nwant %s…", tc.args, err, tc.want)
		case strings.Contains(err.Error(), "s3cr3t"):
			t.Errorf("%q: %v: echoes a value", tc.args, err)
		}
	}
	if _, err := arrangeArgs(cmds, []string{"dialpad-tunnel", "bogus"}); strings.Contains(err.Error(), "bench-bare") {
		t.Errorf("%v: names a hidden command", err)
	}
	if _, err := arrangeArgs(cmds, []string{"dialpad-tunnel", "bench-bare", "--api-base", "x"}); err != nil {
		t.Errorf("bench-bare, hidden but a command: %v", err)
	}
}

// TestBadEnvironmentVariable: an environment variable that does not parse
// as its flag's type is named, with its flag, on one line, and its value
// is not shown.
func TestBadEnvironmentVariable(t *testing.T) {
	for value, want := range map[string]string{
		"s3cret-abc":           "environment variable DIALPAD_WEBSOCKET_ID (for --websocket-id): want a whole number",
		"99999999999999999999": "environment variable DIALPAD_WEBSOCKET_ID (for --websocket-id): it is out of range for a 64-bit whole number",
	} {
		t.Setenv("DIALPAD_WEBSOCKET_ID", value)
		_, err := runCmd(t, "listen", "--api-key", "k", "--forward-to", "http://127.0.0.1:1/")
		if err == nil || err.Error() != want {
			t.Errorf("DIALPAD_WEBSOCKET_ID=%s: error %v, want %q", value, err, want)
		}
	}
}
