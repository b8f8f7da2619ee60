package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dialpad-tunnel/dialpad-tunnel/console"
	"github.com/urfave/cli/v2"
)

// arrangeArgs checks args (args[0] is the program) against the command
// tree and arranges them for the CLI parser, which reads flags only up to
// a command's first argument and answers mistakes with "No help topic":
//
//   - a word that names no command is refused, with the commands there are;
//   - `help [COMMAND…]`, and --help or -h anywhere, give that command's help;
//   - the flags a command knows move, with their values, in front of its
//     arguments (`events show 3f2a9c1e --spool x.spool`), in order;
//   - "--" ends the flags wherever it comes: the rest are arguments;
//   - an unknown flag, a flag without its value (or followed by another
//     flag of the command instead), a true/false flag given
//     something else, and an argument to a command that takes none are
//     refused. No flag value is ever echoed: it may be a key.
func arrangeArgs(cmds []*cli.Command, args []string) ([]string, error) {
	if len(args) == 0 {
		return args, nil
	}
	path := []string{args[0]}
	var cmd *cli.Command
	help := false
	i := 1
	for ; i < len(args); i++ {
		a := args[i]
		if isHelpFlag(a) || (a == "help" || a == "h") && (cmd == nil || len(cmd.Subcommands) > 0) {
			help = true
			continue
		}
		if strings.HasPrefix(a, "-") || cmd != nil && len(cmd.Subcommands) == 0 {
			break // the app's flags, or a command's own flags and arguments
		}
		list := cmds
		if cmd != nil {
			list = cmd.Subcommands
		}
		if cmd = findCommand(list, a); cmd == nil {
			return nil, unknownCommand(list, path, a)
		}
		path = append(path, a)
	}
	if cmd == nil || len(cmd.Subcommands) > 0 {
		if help {
			return append(path, "--help"), nil
		}
		return append(path, args[i:]...), nil // the app's flags (--version), or a bare group: the parser's
	}
	where := strings.Join(path[1:], " ")
	see := fmt.Sprintf(" (see dialpad-tunnel %s --help)", where)
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var flags, rest []string
	dashes := false
	for j := i; j < len(args); j++ {
		a := args[j]
		switch {
		case a == "--":
			dashes = true
			rest = append(rest, args[j+1:]...)
			j = len(args)
			continue
		case isHelpFlag(a):
			help = true
			continue
		case len(a) < 2 || a[0] != '-':
			rest = append(rest, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		wantsValue, known := takesValue[name]
		shown := console.Safe(clip(dashesOf(a)+name, 40))
		switch {
		case !known:
			return nil, fmt.Errorf("%s: unknown flag %s%s", where, shown, see)
		case wantsValue && !hasValue && (j+1 == len(args) || isFlagName(args[j+1], takesValue)):
			return nil, fmt.Errorf("%s: %s needs a value%s", where, shown, see)
		case wantsValue && !hasValue:
			flags = append(flags, a, args[j+1])
			j++
			continue
		case !wantsValue && hasValue:
			if _, err := strconv.ParseBool(value); err != nil {
				return nil, fmt.Errorf("%s: %s takes true or false%s", where, shown, see)
			}
		}
		flags = append(flags, a)
	}
	if help {
		return append(path, "--help"), nil
	}
	if cmd.ArgsUsage == "" && len(rest) > 0 {
		return nil, fmt.Errorf("%s takes no arguments, got %d (a flag value with spaces needs quotes)%s", where, len(rest), see)
	}
	out := append(path, flags...)
	if dashes {
		out = append(out, "--")
	}
	return append(out, rest...), nil
}

// isFlagName reports whether a is --name of a flag in names: taken for a
// value, it would be a flag's value forgotten (--since --spool x).
func isFlagName(a string, names map[string]bool) bool {
	name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
	_, known := names[name]
	return strings.HasPrefix(a, "--") && known
}

// isHelpFlag reports whether a asks for help, as the CLI parser's own flag.
func isHelpFlag(a string) bool { return a == "--help" || a == "-h" || a == "-help" || a == "--h" }

// dashesOf is the one or two dashes a flag was written with.
func dashesOf(a string) string {
	if strings.HasPrefix(a, "--") {
		return "--"
	}
	return "-"
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

// unknownCommand is the error for a word that names none of cmds, the
// commands under path.
func unknownCommand(cmds []*cli.Command, path []string, word string) error {
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Name)
		}
	}
	where := strings.Join(append([]string{"dialpad-tunnel"}, path[1:]...), " ")
	return fmt.Errorf("unknown command %q: %s takes %s (see %s --help)", clip(word, 40), where, strings.Join(names, ", "), where)
}
