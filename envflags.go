package main

import (
	"fmt"
	"os"
	"slices"

	"github.com/urfave/cli/v2"
)

// typedFlags is the context key of the first names of the flags given on
// the command line (a map[string]bool), which runArgs puts in the
// context of every command: the parser itself does not tell a flag typed
// from one its environment variable set.
type typedFlags struct{}

// typedFlag reports whether c's flag name was given on the command line
// (see typedFlags): c.IsSet also counts its environment variable, and the
// flags of a command, package-level values, remember an earlier run in
// the same process.
func typedFlag(c *cli.Context, name string) bool {
	typed, _ := c.Context.Value(typedFlags{}).(map[string]bool)
	for _, f := range c.Command.Flags {
		if slices.Contains(f.Names(), name) {
			return typed[f.Names()[0]]
		}
	}
	return false
}

// envSource is the environment variable that gave c's flag name its
// value: the first of its EnvVars that is set (as the parser reads them),
// when the flag was not given on the command line; else "".
func envSource(c *cli.Context, name string) string {
	typed, ok := c.Context.Value(typedFlags{}).(map[string]bool)
	if !ok {
		return "" // not run by runArgs: unknown, and the flag is named
	}
	for _, f := range c.Command.Flags {
		if !slices.Contains(f.Names(), name) {
			continue
		}
		ev, ok := f.(interface{ GetEnvVars() []string })
		if !ok || typed[f.Names()[0]] {
			return ""
		}
		for _, env := range ev.GetEnvVars() {
			if _, set := os.LookupEnv(env); set {
				return env
			}
		}
		return ""
	}
	return ""
}

// flagLabel names c's flag name in an error about its value: "--env", or
// "DIALPAD_ENV (for --env)" when the value came from that variable, so
// that a user who never typed the flag (a service file, say) is told what
// to fix.
func flagLabel(c *cli.Context, name string) string {
	if env := envSource(c, name); env != "" {
		return fmt.Sprintf("%s (for --%s)", env, name)
	}
	return "--" + name
}
