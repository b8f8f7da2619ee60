package main

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/urfave/cli/v2"
)

// emptyFlag is a flag whose empty value means nothing sensible. The parser
// takes an empty --spool for "not given": `--spool "$SPOOL"` with SPOOL
// unset would use the default file without a word, and an empty
// --user-agent would send the default one.
type emptyFlag struct {
	name string
	give string // what to give instead, e.g. "a path"
	omit string // what leaving it out does, e.g. "for the default"; "" when it is required
}

// The flags of each command that may not be empty; apiConfig checks
// --api-base for every command that talks to the API.
var (
	listenNotEmpty = []emptyFlag{
		{"spool", "a path", "for the default"},
		{"forward-to", "your handler's URL", "when --route gives a handler for every type"},
		{"content-type-json", "a Content-Type", "for application/json"},
		{"content-type-jwt", "a Content-Type", "for application/jwt"},
		{"user-agent", "a User-Agent", "for dialpad-tunnel/" + version},
		{"metrics-addr", "HOST:PORT, e.g. 127.0.0.1:9464", "to serve no metrics"},
		{"forward-ca", "a PEM file", "for the system's authorities only"},
		{"forward-cert", "a PEM file", "to send no client certificate"},
		{"forward-key", "a PEM file", "to send no client certificate"},
	}
	eventsNotEmpty = []emptyFlag{
		{"spool", "a path", "for the default"},
		{"route", "a route's name (call, sms, call-2, …)", "for the spool without a route"},
		{"since", "an RFC 3339 time or a duration ago (1h)", "for no time bound"}, // events replay
	}
	setupNotEmpty = []emptyFlag{
		{"config", "the setup file (YAML, see examples/setup.yaml)", ""},
		{"state", "a path", "for the default ($XDG_STATE_HOME/dialpad-tunnel/setup.json)"},
	}
	migrateNotEmpty = []emptyFlag{{"record", "a path", "for the default ($XDG_STATE_HOME/dialpad-tunnel/migration.json)"}}
	doctorNotEmpty  = []emptyFlag{{"forward-to", "the handler URL to check", "to check no handler"}}
	apiBaseNotEmpty = emptyFlag{"api-base", "the API base URL", "for the one --env picks"}

	// An empty emulator --secret would serve plain JSON events, which the
	// example handlers refuse while DIALPAD_SECRET is set.
	emulatorNotEmpty = []emptyFlag{{"secret", "the secret your handler verifies", "for plain JSON events"}}
)

// checkNotEmpty refuses the first of flags that is set, on the command line
// or by its environment variable, but empty, saying what to give instead.
// A flag the command does not have is never set.
func checkNotEmpty(c *cli.Context, flags ...emptyFlag) error {
	for _, f := range flags {
		if !c.IsSet(f.name) || c.String(f.name) != "" {
			continue
		}
		given, leave := "", "the flag"
		if env := emptyEnv(c, f.name); env != "" {
			// An empty variable and --flag= read the same: both are named.
			given, leave = fmt.Sprintf(" (given as --%s= or by an empty %s)", f.name, env), "both"
		}
		msg := fmt.Sprintf("--%s is empty%s: give %s", f.name, given, f.give)
		if f.omit != "" {
			msg += fmt.Sprintf(", or leave %s out %s", leave, f.omit)
		}
		return errors.New(msg)
	}
	return nil
}

// emptyEnv is the environment variable of c's flag name that the parser
// read, when it is set and empty; else "".
func emptyEnv(c *cli.Context, name string) string {
	for _, f := range c.Command.Flags {
		ev, ok := f.(interface{ GetEnvVars() []string })
		if !ok || !slices.Contains(f.Names(), name) {
			continue
		}
		for _, env := range ev.GetEnvVars() {
			if v, set := os.LookupEnv(env); set {
				if v == "" {
					return env
				}
				return ""
			}
		}
	}
	return ""
}
