package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/dialpad-tunnel/dialpad-tunnel/setup"
	"github.com/urfave/cli/v2"
)

func setupCommand() *cli.Command {
	return &cli.Command{
		Name:  "setup",
		Usage: "make Dialpad match a setup file: one websocket and its subscriptions (idempotent)",
		UsageText: "DIALPAD_API_KEY=... dialpad-tunnel setup --config examples/setup.yaml --dry-run\n" +
			"DIALPAD_API_KEY=... dialpad-tunnel setup --config examples/setup.yaml",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "setup file (YAML, see examples/setup.yaml); required", EnvVars: []string{"DIALPAD_SETUP_CONFIG"}},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the plan, change nothing"},
			&cli.StringFlag{Name: "state", Usage: "file of the ids setup manages (default $XDG_STATE_HOME/dialpad-tunnel/setup.json)", EnvVars: []string{"DIALPAD_SETUP_STATE"}},
		}, apiFlags()...),
		Action: runSetup,
	}
}

func runSetup(c *cli.Context) error {
	if err := checkNotEmpty(c, setupNotEmpty...); err != nil {
		return err
	}
	if c.String("config") == "" {
		// Checked here, not by the parser: its error comes after the whole
		// help text.
		return errors.New("setup: pass --config FILE, the setup file (YAML, see examples/setup.yaml), or set DIALPAD_SETUP_CONFIG")
	}
	file, err := setup.ParseFile(c.String("config"), os.Getenv)
	if err != nil {
		return err
	}
	for _, w := range file.Warnings() {
		fmt.Fprintf(c.App.ErrWriter, "warning: setup file %s: %s\n", c.String("config"), w)
	}
	statePath, err := stateFile(c.String("state"), "setup.json")
	if err != nil {
		return err
	}
	client, cfg, err := newClient(c)
	if err != nil {
		return err
	}
	s, err := setup.New(setup.Config{Client: client, APIBase: cfg.BaseURL, StatePath: statePath})
	if err != nil {
		return err
	}
	if !c.Bool("dry-run") { // a dry run writes nothing, not even the lock file
		unlock, err := s.Lock(c.Context)
		if err != nil {
			return err
		}
		defer unlock()
	}
	plan, err := s.Plan(c.Context, file)
	if err != nil {
		return withFix(err)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "plan for %s (state %s):\n", c.String("config"), statePath)
	for _, a := range plan.Actions {
		fmt.Fprintln(w, "  "+a.String())
	}
	if plan.Writes() == 0 {
		fmt.Fprintln(w, "Dialpad already matches the file: nothing to do")
	} else {
		fmt.Fprintf(w, "%d change(s)\n", plan.Writes())
	}
	if c.Bool("dry-run") {
		fmt.Fprintln(w, "dry run: nothing changed")
		return nil
	}
	st, err := s.Apply(c.Context, plan)
	if u := (*setup.UnansweredCreate)(nil); errors.As(err, &u) {
		return fmt.Errorf("%w\n  what was done is recorded in %s, but not this create: %s", err, statePath, unansweredHint(c, u))
	}
	if err != nil {
		return fmt.Errorf("%w\n  what was done is recorded in %s: run setup again to finish", withFix(err), statePath)
	}
	if plan.Writes() > 0 {
		fmt.Fprintf(w, "applied; state saved to %s\n", statePath)
	}
	fmt.Fprintf(w, "listen with: %s\n", strings.Join(append(append([]string{"dialpad-tunnel listen --websocket-id " + st.WebsocketID.String()}, apiChoice(c)...), "--forward-to URL"), " "))
	return nil
}

// unansweredHint says how to find the object of a create that got no
// answer, and what to do with it, before setup runs again.
func unansweredHint(c *cli.Context, u *setup.UnansweredCreate) string {
	cmd := func(words ...string) string {
		return "`" + strings.Join(append(append([]string{"dialpad-tunnel"}, words...), apiChoice(c)...), " ") + "`"
	}
	if u.Type == "" {
		return "before running setup again, look for it with " + cmd("websockets", "list") +
			"; to keep one found there that nothing else uses, put its id in the setup file (websocket: id: ID), or delete it with " +
			cmd("websockets", "delete", "ID")
	}
	t := string(u.Type)
	return "before running setup again, look for it with " + cmd("subscriptions", "list", "--type", t) +
		"; one found there that the state file does not name would be a second one after the next run: delete it with " +
		cmd("subscriptions", "delete", "--type", t, "ID")
}

// stateFlag is the flag that names a file of the state directory instead:
// setup's --state, migrate's --record, and for a spool (listen, events)
// --spool.
func stateFlag(name string) string {
	switch name {
	case "setup.json":
		return "--state"
	case "migration.json":
		return "--record"
	}
	return "--spool"
}

// stateFile returns flag when set, else name in the state directory:
// $XDG_STATE_HOME/dialpad-tunnel, ~/.local/state/dialpad-tunnel, or the
// user config directory on Windows. A relative XDG_STATE_HOME is used as
// it is, against the XDG spec, as it always was here: ignoring it would
// move the default spool, and its pending events, without a word.
func stateFile(flag, name string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" && runtime.GOOS != "windows" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no state directory: set XDG_STATE_HOME or HOME, or pass %s", stateFlag(name))
		}
		dir = filepath.Join(home, ".local", "state")
	}
	if dir == "" {
		cfg, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("no state directory: pass %s", stateFlag(name))
		}
		dir = cfg
	}
	return filepath.Join(dir, "dialpad-tunnel", name), nil
}
