package main

import (
	"slices"
	"strings"
	"testing"
)

// TestFlagsAnywhere: the flags a command knows move, with their values,
// in front of its arguments; everything else stays as it was.
func TestFlagsAnywhere(t *testing.T) {
	cmds := newApp(nil, nil).Commands
	for _, tc := range []struct{ args, want string }{
		{"events show 3f2a9c1e --spool x.spool", "events show --spool x.spool 3f2a9c1e"},
		{"events show 3f2a9c1e --json --spool=x.spool", "events show --json --spool=x.spool 3f2a9c1e"},
		{"events replay a1 --since 1h b2 --dead", "events replay --since 1h --dead a1 b2"},
		{"events replay --dead a1", "events replay --dead a1"},
		{"events show a1 --bogus x", "events show a1 --bogus x"},       // unknown: left for the command to refuse
		{"events show a1 -- --spool x", "events show a1 -- --spool x"}, // after --: arguments
		{"events show a1 --spool", "events show a1 --spool"},           // no value: refused, a1 not taken for it
		{"trigger sms -count 2 call", "trigger -count 2 sms call"},     // one dash works too
		{"websockets get 7 --api-key k", "websockets get --api-key k 7"},
		{"events a1 --spool x", "events a1 --spool x"}, // not a command with flags of its own
		{"nosuch a --spool x", "nosuch a --spool x"},
		{"listen --forward-to http://x", "listen --forward-to http://x"},
	} {
		got := flagsAnywhere(cmds, append([]string{"dialpad-tunnel"}, strings.Fields(tc.args)...))
		if want := append([]string{"dialpad-tunnel"}, strings.Fields(tc.want)...); !slices.Equal(got, want) {
			t.Errorf("%s\n got %q\nwant %q", tc.args, got[1:], want[1:])
		}
	}
}

// TestUnknownCommand: a word that names no command is refused with the
// commands there are at that level; everything else goes to the parser.
func TestUnknownCommand(t *testing.T) {
	cmds := newApp(nil, nil).Commands
	for _, tc := range []struct{ args, want string }{
		{"bogus", `unknown command "bogus": dialpad-tunnel takes listen, demo,`},
		{"help events", `unknown command "help": dialpad-tunnel takes listen,`},
		{"events bogus --spool x", `unknown command "bogus": dialpad-tunnel events takes list, show, replay, purge, salvage (see dialpad-tunnel events --help)`},
		{"websockets show 7", `unknown command "show": dialpad-tunnel websockets takes list, get, create, update, delete`},
		{"events show 3f2a9c1e", ""},
		{"events help show", ""},
		{"events --help", ""},
		{"--version", ""},
		{"listen --forward-to http://x", ""},
		{"bench-bare --api-base x", ""}, // hidden, but a command
		{"", ""},
	} {
		err := unknownCommand(cmds, append([]string{"dialpad-tunnel"}, strings.Fields(tc.args)...))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v, want none", tc.args, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%q: %v\nwant %s…", tc.args, err, tc.want)
		}
	}
	if err := unknownCommand(cmds, []string{"dialpad-tunnel", "bogus"}); strings.Contains(err.Error(), "bench-bare") {
		t.Errorf("%v: names a hidden command", err)
	}
}
