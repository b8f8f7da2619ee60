package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// flagsAnywhere lets flags come after a command's arguments, as in
// `events show 3f2a9c1e --spool x.spool` or `trigger call --count 3`: the
// CLI parser stops reading flags at the first argument and would take the
// rest for arguments. It moves every flag that the command named by args
// knows, with its value, in front of the arguments, both kept in order.
// Anything after "--" stays an argument; an unknown flag, or one whose
// value is missing, stays where it is, for the command to refuse.
func flagsAnywhere(cmds []*cli.Command, args []string) []string {
	var cmd *cli.Command
	i := 1
	for ; i < len(args); i++ {
		c := findCommand(cmds, args[i])
		if c == nil {
			break
		}
		cmd, cmds = c, c.Subcommands
	}
	if cmd == nil || len(cmd.Subcommands) > 0 {
		return args
	}
	takesValue := map[string]bool{"help": false, "h": false}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var flags, rest []string
	for j := i; j < len(args); j++ {
		a := args[j]
		if a == "--" {
			rest = append(rest, args[j:]...)
			break
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		value, known := takesValue[name]
		if !strings.HasPrefix(a, "-") || !known {
			rest = append(rest, a)
			continue
		}
		if value && !hasValue && j+1 == len(args) {
			rest = append(rest, a) // no value: left for the command to refuse
			break
		}
		flags = append(flags, a)
		if value && !hasValue {
			j++
			flags = append(flags, args[j])
		}
	}
	out := append([]string{}, args[:i]...)
	return append(append(out, flags...), rest...)
}

// findCommand returns the command of cmds named (or aliased) name, or nil.
func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// unknownCommand names a command word of args that names no command, with
// the ones there are: the CLI parser's own answer is "No help topic".
func unknownCommand(cmds []*cli.Command, args []string) error {
	path := args[:1]
	for _, a := range args[1:] {
		if len(cmds) == 0 || strings.HasPrefix(a, "-") || len(path) > 1 && (a == "help" || a == "h") {
			return nil // a command's own flags and arguments, or the help of one with subcommands
		}
		c := findCommand(cmds, a)
		if c == nil {
			var names []string
			for _, c := range cmds {
				if !c.Hidden {
					names = append(names, c.Name)
				}
			}
			where := strings.Join(append([]string{"dialpad-tunnel"}, path[1:]...), " ")
			return fmt.Errorf("unknown command %q: %s takes %s (see %s --help)", clip(a, 40), where, strings.Join(names, ", "), where)
		}
		path, cmds = append(path, a), c.Subcommands
	}
	return nil
}
