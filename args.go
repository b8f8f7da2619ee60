package main

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/console"
	"github.com/urfave/cli/v2"
)

// arrangeArgs checks args (args[0] is the program) against the command
// tree and arranges them for the CLI parser, which reads flags only up to
// a command's first argument and answers mistakes with "No help topic":
//
//   - a word that names no command is refused, with the commands there are;
//   - `help [COMMAND…]`, and --help or -h anywhere, give that command's help,
//     whatever else is wrong on the line but a command name;
//   - the flags a command knows move, with their values, in front of its
//     arguments (`events show 3f2a9c1e --spool x.spool`), in order;
//   - "--" after the command's name ends its flags wherever it comes (one
//     before it ends nothing);
//   - refused, with no flag value ever echoed (it may be a key): an
//     unknown flag; a flag without its value, or followed by "--", help
//     or another of the command's --flags instead; a value a number or
//     duration flag cannot take; a true/false flag given something else;
//     an argument to a command that takes none (often a flag value with
//     spaces, unquoted).
func arrangeArgs(cmds []*cli.Command, args []string) ([]string, error) {
	out, _, err := arrange(cmds, args)
	return out, err
}

// arrange is arrangeArgs that also returns the first names of the flags
// given on the command line (typedFlags).
func arrange(cmds []*cli.Command, args []string) ([]string, map[string]bool, error) {
	if len(args) == 0 {
		return args, nil, nil
	}
	path := []string{args[0]}
	var cmd *cli.Command
	help := false
	var wrong error // the first mistake before the command's name: help still wins
	version := false
	i := 1
	for ; i < len(args) && (cmd == nil || len(cmd.Subcommands) > 0); i++ {
		a := args[i]
		where := strings.Join(append([]string{"dialpad-tunnel"}, path[1:]...), " ")
		before := strings.Join(append(path[1:], ""), ": ") // "events: ", or "" at the top
		if h, ok := helpFlag(a); ok {
			help = help || h
			continue
		}
		switch {
		case a == "help" || a == "h":
			help = true
			continue
		case cmd == nil && isVersionFlag(a):
			version = true
			continue
		case a == "--":
			continue // nothing to end before the command's name
		case strings.HasPrefix(a, "-"):
			wrong = cmp.Or(wrong, fmt.Errorf("%sunknown flag %s (see %s --help)", before, flagShown(a), where))
			continue
		}
		list := cmds
		if cmd != nil {
			list = cmd.Subcommands
		}
		if cmd = findCommand(list, a); cmd == nil {
			return nil, nil, cmp.Or(wrong, unknownCommand(list, path, a))
		}
		path = append(path, a)
	}
	switch {
	case !help && wrong == nil && version:
		return []string{args[0], "--version"}, nil, nil // the parser prints it
	case cmd == nil || len(cmd.Subcommands) > 0:
		switch {
		case help:
			return append(path, "--help"), nil, nil
		case wrong != nil:
			return nil, nil, wrong
		}
		return path, nil, nil // the app or a group alone: the parser shows what it has
	}
	flags, rest, dashes, typed, err := arrangeFlags(cmd, path, args[i:])
	if help || errors.Is(err, errHelp) {
		return append(path, "--help"), nil, nil
	}
	if err = cmp.Or(wrong, err); err != nil {
		return nil, nil, err
	}
	out := append(path, flags...)
	if dashes {
		out = append(out, "--")
	}
	return append(out, rest...), typed, nil
}

// errHelp is arrangeFlags' answer when help was asked for.
var errHelp = errors.New("help")

// flagKind is what a flag takes: nothing (true/false), or a value that
// check, when set, must accept.
type flagKind struct {
	value bool
	check func(string) error
	// once: a flag of one value, given at most once (the parser would
	// take the last and say nothing); name is its first name.
	once bool
	name string
}

func kindOf(f cli.Flag) flagKind {
	whole := func(v string) error {
		_, err := strconv.ParseInt(v, 0, 64)
		return err
	}
	if tv, ok := f.(interface{ TakesValue() bool }); ok && !tv.TakesValue() {
		return flagKind{} // true/false
	}
	switch f.(type) {
	case *cli.IntFlag, *cli.Int64Flag:
		return flagKind{value: true, check: whole}
	case *cli.UintFlag, *cli.Uint64Flag:
		return flagKind{value: true, check: func(v string) error { _, err := strconv.ParseUint(v, 0, 64); return err }}
	case *cli.Float64Flag:
		return flagKind{value: true, check: func(v string) error { _, err := strconv.ParseFloat(v, 64); return err }}
	case *cli.DurationFlag:
		return flagKind{value: true, check: checkDuration}
	}
	return flagKind{value: true}
}

// arrangeFlags splits a leaf command's words into its flags (with their
// values) and its arguments, checking them; dashes reports a "--", and
// typed holds the first name of every flag given. The first mistake is
// returned, unless help is asked for (errHelp).
func arrangeFlags(cmd *cli.Command, path, words []string) (flags, rest []string, dashes bool, typed map[string]bool, err error) {
	where := strings.Join(path[1:], " ")
	see := fmt.Sprintf(" (see dialpad-tunnel %s --help)", where)
	fail := func(format string, a ...any) {
		if err == nil {
			err = fmt.Errorf(where+": "+format+see, a...)
		}
	}
	kinds := map[string]flagKind{}
	for _, f := range cmd.Flags {
		k := kindOf(f)
		k.name = f.Names()[0]
		switch f.(type) {
		case *cli.StringSliceFlag, *cli.IntSliceFlag, *cli.Int64SliceFlag, *cli.Float64SliceFlag, *cli.UintSliceFlag, *cli.Uint64SliceFlag:
		default:
			k.once = k.value
		}
		for _, n := range f.Names() {
			kinds[n] = k
		}
	}
	given := map[string]bool{} // flags of one value seen
	typed = map[string]bool{}

	help := false
	afterValueOf := ""       // the flag whose value the word before was
	strayAfterValue := false // the first argument came after a flag's value: more of it, unquoted?
	for j := 0; j < len(words); j++ {
		a := words[j]
		prev := afterValueOf
		if a == "--" {
			dashes = true
			rest = append(rest, words[j+1:]...)
			break
		}
		if h, ok := helpFlag(a); ok {
			help = help || h
			continue
		}
		if negativeID(cmd, a) {
			// Not a flag (none is a number): an argument, which a "--"
			// keeps from the parser, refused as 0 or abc is (want a
			// positive id), not as an unknown flag.
			dashes = true
		}
		if len(a) < 2 || a[0] != '-' || negativeID(cmd, a) {
			if len(rest) == 0 {
				strayAfterValue = prev != ""
			}
			rest = append(rest, a) // a word after a value may be more of it, unquoted: prev stays
			continue
		}
		afterValueOf = ""
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		kind, known := kinds[name]
		shown := flagShown(a)
		switch {
		case !known && prev != "" && strings.HasPrefix(a, "--") && flagName.MatchString(name):
			// Shaped like a flag (a mistyped one, most likely): named, but
			// it might yet be more of the value, unquoted.
			fail("unknown flag %s after the value of %s (if it is part of that value, quote the value)", shown, prev)
		case !known && prev != "":
			// Maybe more of the value (a secret's, even): not shown.
			fail("unknown flag after the value of %s (a value with spaces needs quotes)", prev)
		case !known:
			fail("unknown flag %s", shown)
		case kind.value && !hasValue && (j+1 == len(words) || notAValue(words[j+1], kinds)):
			fail("%s needs a value (one that starts with -- goes after =: %s=VALUE)", shown, shown)
		case kind.value:
			typed[kind.name] = true
			if kind.once && given[kind.name] {
				fail("%s is given twice; it takes one value (a repeatable flag says so in --help)", shown)
			}
			given[kind.name] = true
			flags = append(flags, a)
			if !hasValue {
				j++
				value = words[j]
				flags = append(flags, value)
				afterValueOf = shown
			}
			if cerr := checkValue(kind, value); errors.Is(cerr, strconv.ErrRange) {
				fail("%s cannot take that value: it is out of range for a 64-bit whole number", shown)
			} else if errors.Is(cerr, errTooLong) {
				fail("%s cannot take that value: it is beyond the longest duration, %s", shown, longestDuration)
			} else if cerr != nil {
				fail("%s cannot take that value: want %s", shown, wantOf(cmd, name))
			}
		case hasValue:
			if _, perr := strconv.ParseBool(value); perr != nil {
				fail("%s takes true or false", shown)
			}
			typed[kind.name] = true
			flags = append(flags, a)
		default:
			typed[kind.name] = true
			if j+1 < len(words) && (strings.EqualFold(words[j+1], "true") || strings.EqualFold(words[j+1], "false")) {
				fail("%s takes its value after =, as in %s=%s", shown, shown, strings.ToLower(words[j+1]))
			}
			flags = append(flags, a)
		}
	}
	if help {
		return nil, nil, false, nil, errHelp
	}
	if err == nil && cmd.ArgsUsage == "" && len(rest) > 0 {
		hint := ""
		if strayAfterValue {
			hint = " (a flag value with spaces needs quotes)"
		}
		err = fmt.Errorf("%s takes no arguments, got %d%s%s", where, len(rest), hint, see)
	}
	return flags, rest, dashes, typed, err
}

// errTooLong is checkDuration's error for a duration beyond the longest
// there is, either way.
var errTooLong = errors.New("beyond the longest duration")

// longestDuration is the longest duration a flag takes, in whole hours.
var longestDuration = fmt.Sprintf("%dh (about 292 years)", math.MaxInt64/int64(time.Hour))

// checkDuration checks a duration flag's value. time.ParseDuration says
// "invalid duration" also of one that only overflows (99999999h): one
// that parses with every number made 1 is such a one (errTooLong).
func checkDuration(v string) error {
	_, err := time.ParseDuration(v)
	if err != nil {
		if _, e := time.ParseDuration(digitRuns.ReplaceAllString(v, "1")); e == nil {
			return errTooLong
		}
	}
	return err
}

// digitRuns are the numbers of a duration (1.5 is two).
var digitRuns = regexp.MustCompile(`[0-9]+`)

// checkValue runs kind's check of a flag value, if it has one.
func checkValue(kind flagKind, value string) error {
	if kind.check == nil {
		return nil
	}
	return kind.check(value)
}

// wantOf says what a number or duration flag takes.
func wantOf(cmd *cli.Command, name string) string {
	for _, f := range cmd.Flags {
		if slices.Contains(f.Names(), name) {
			if _, ok := f.(*cli.DurationFlag); ok {
				return "a duration such as 30s or 5m"
			}
			if _, ok := f.(*cli.Float64Flag); ok {
				return "a number"
			}
			if u, ok := f.(interface{ GetUsage() string }); ok && strings.Contains(u.GetUsage(), ", in bytes:") {
				return "a whole number, in bytes (16 MiB is 16777216)"
			}
		}
	}
	return "a whole number"
}

// notAValue reports whether w, after a flag that takes a value, is taken
// for something else: "--", a help flag, or another --flag of the command
// (--since --spool x).
func notAValue(w string, kinds map[string]flagKind) bool {
	_, isHelp := helpFlag(w)
	name, _, _ := strings.Cut(strings.TrimPrefix(w, "--"), "=")
	_, known := kinds[name]
	return w == "--" || isHelp || strings.HasPrefix(w, "--") && known
}

// isVersionFlag reports whether a is the app's version flag asking for
// the version: -v, --version, -version, or one of them =true.
func isVersionFlag(a string) bool {
	name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
	if !strings.HasPrefix(a, "-") || name != "v" && name != "version" {
		return false
	}
	b, err := strconv.ParseBool(value)
	return !hasValue || err == nil && b
}

// helpFlag reports whether a is the help flag (ok) and whether it asks for
// help: --help, -h, or --help=true; --help=false asks for none.
func helpFlag(a string) (help, ok bool) {
	if len(a) < 2 || a[0] != '-' {
		return false, false
	}
	name, value, hasValue := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
	if name != "help" && name != "h" {
		return false, false
	}
	if !hasValue {
		return true, true
	}
	b, err := strconv.ParseBool(value)
	return b || err != nil, true
}

// flagShown is flag word a as messages show it: its dashes and name, never
// its value, quoted if it holds what a terminal should not print.
// flagName is the shape of a flag's name: what a mistyped flag looks like,
// unlike most of a value.
var flagName = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// negativeID reports whether a is a negative whole number (-5) given to
// a command that takes ids as arguments.
func negativeID(cmd *cli.Command, a string) bool {
	return strings.Contains(cmd.ArgsUsage, "ID") && negativeNumber.MatchString(a)
}

var negativeNumber = regexp.MustCompile(`^-[0-9]+$`)

func flagShown(a string) string {
	name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
	return console.Safe(clip(dashesOf(a)+name, 40))
}

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
