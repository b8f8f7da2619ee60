package main

import (
	"errors"
	"slices"
	"strings"

	"github.com/dialpad-tunnel/dialpad-tunnel/console"
	"github.com/dialpad-tunnel/dialpad-tunnel/control"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
	"github.com/urfave/cli/v2"
)

// withCommand completes err, when the spool file at path is not this
// user's to open (a spool.AccessError) or its control socket not this
// user's to use (a control.OtherUserError), with the command to run as
// their owner: this one, on that file.
func withCommand(c *cli.Context, path string, err error) error {
	var ae *spool.AccessError
	if errors.As(err, &ae) && ae.Command == "" {
		ae.Command = sameCommand(c, path)
	}
	var oe *control.OtherUserError
	if errors.As(err, &oe) && oe.Command == "" {
		oe.Command = sameCommand(c, path)
	}
	return err
}

// shownFlags are the flags of the events commands and status that
// sameCommand repeats: none holds a secret (the API flags only locate the
// default spool, which --spool replaces).
var shownFlags = []string{"pending", "dead", "delivered", "since", "json"}

// sameCommand is the command line of c on the spool file at path, for
// another user to run: its ids and shownFlags, never the API flags.
func sameCommand(c *cli.Context, path string) string {
	var names []string // the command's, then its parents'
	for _, x := range c.Lineage() {
		if x.Command != nil && x.Command.Name != "" && x.Command.Name != c.App.Name {
			names = append(names, x.Command.Name)
		}
	}
	slices.Reverse(names)
	words := append([]string{"dialpad-tunnel"}, names...)
	words = append(words, "--spool", console.ShellWord(path))
	for _, name := range shownFlags {
		if !c.IsSet(name) {
			continue
		}
		switch v := c.Value(name).(type) {
		case bool:
			if v {
				words = append(words, "--"+name)
			} else {
				words = append(words, "--"+name+"=false")
			}
		case string:
			words = append(words, "--"+name, console.ShellWord(console.Safe(v)))
		}
	}
	for _, a := range c.Args().Slice() {
		words = append(words, console.ShellWord(console.Safe(clip(a, 64))))
	}
	return strings.Join(words, " ")
}

// listenAccess completes err, when listen's spool file is not this user's
// to open (a spool.AccessError), with the command to run as its owner.
// listen's own flags are not repeated: they may hold secrets.
func listenAccess(err error) error {
	var ae *spool.AccessError
	if errors.As(err, &ae) && ae.Command == "" {
		ae.Command = "dialpad-tunnel listen …"
	}
	return err
}
