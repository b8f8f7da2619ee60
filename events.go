package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/agent"
	"github.com/dialpad-tunnel/dialpad-tunnel/console"
	"github.com/dialpad-tunnel/dialpad-tunnel/control"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
	"github.com/urfave/cli/v2"
)

// spoolFlags choose the spool file of the events commands the way listen
// chooses it: --spool, else the default file of the sources (or of
// --create --events), then the file of --route NAME next to it. Each
// call makes new flags, as for every shared flag list: a flag keeps what
// a run set it to, so a second run in one process (the tests) would
// inherit it.
func spoolFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "spool", Usage: "spool file (default: the one listen uses with the same --websocket-id/--subscription or --create --events, and --env/--api-base, or the only one there is)", EnvVars: []string{"DIALPAD_TUNNEL_SPOOL"}},
		&cli.Int64Flag{Name: "websocket-id", Usage: "the --websocket-id listen runs with", EnvVars: []string{"DIALPAD_WEBSOCKET_ID"}},
		&cli.StringSliceFlag{Name: "subscription", Usage: "the --subscription TYPE:ID listen runs with; repeatable", EnvVars: []string{"DIALPAD_SUBSCRIPTIONS"}},
		&cli.BoolFlag{Name: "create", Usage: "with --events: the spool of listen --create --events …"},
		&cli.StringSliceFlag{Name: "events", Usage: "with --create: the --events listen --create runs with, e.g. call,sms"},
		&cli.StringFlag{Name: "route", Usage: "the spool of listen's --route `NAME` (call, sms, …; call-2 for another call route's file; a bare events list names each with its handler): the spool's name with .NAME before its extension"},
	}
}

func eventsCommand() *cli.Command {
	asJSON := &cli.BoolFlag{Name: "json", Usage: "print JSON instead of text"}
	dead := &cli.BoolFlag{Name: "dead", Usage: "dead letters: given up on"}
	delivered := &cli.BoolFlag{Name: "delivered", Usage: "delivered events kept as history (--keep-delivered)"}
	return &cli.Command{
		Name:  "events",
		Usage: "list, show, replay, purge or salvage the events in a spool (all but salvage also while listen runs; salvage needs listen stopped)",
		UsageText: "dialpad-tunnel events list --dead\n" +
			"dialpad-tunnel events show 3f2a9c1e\n" +
			"dialpad-tunnel events replay --dead",
		Subcommands: []*cli.Command{
			eventsSub("list", "list the stored events, oldest first (all states unless one is chosen)", "",
				[]cli.Flag{&cli.BoolFlag{Name: "pending", Usage: "events waiting for delivery"}, dead, delivered, asJSON}, eventsList, ""),
			eventsSub("show", "show one event: the headers listen sends, the body exactly, every attempt", "ID",
				[]cli.Flag{asJSON}, eventsShow, ""),
			eventsSub("replay", "put dead or delivered events back in the queue; a running listen delivers them at once, else the next one", "[ID…]",
				[]cli.Flag{
					&cli.BoolFlag{Name: "dead", Usage: "dead letters only (alone: every dead letter)"},
					&cli.StringFlag{Name: "since", Usage: "events finished since `T` only (alone: every dead or delivered one): RFC 3339 time, or a duration ago (1h)"},
				}, eventsReplay, replayHelp),
			eventsSub("purge", "delete dead letters or delivered history for good", "",
				[]cli.Flag{&cli.BoolFlag{Name: "dead", Usage: "delete every dead letter"}, &cli.BoolFlag{Name: "delivered", Usage: "delete the delivered history"}}, eventsPurge, ""),
			eventsSub("salvage", "keep every intact part of a damaged spool; the file as it was is kept next to it (stop listen first)", "",
				nil, eventsSalvage, salvageHelp),
		},
	}
}

// replayHelp says how the selectors of events replay combine.
const replayHelp = "Give delivery ids (or unique prefixes of 8+ characters) to replay exactly those events, or choose with flags:\n" +
	"  --dead             every dead letter\n" +
	"  --since T          every dead or delivered event finished since T\n" +
	"  --dead --since T   the dead letters finished since T (both must match)\n" +
	"Ids and flags do not mix. Frames refused on arrival by --verify-secret are never replayed."

// salvageHelp says what events salvage keeps and what it cannot.
const salvageHelp = "A spool damaged in the middle (a bad disk, a stray write) stops listen and the events commands.\n" +
	"salvage writes every intact batch of it, unchanged and in order, to a new file that takes its place,\n" +
	"and keeps the file as it was as PATH.damaged. What the damaged bytes held is gone: an event stored\n" +
	"only there is lost, and one whose delivery was recorded there is delivered again. A spool that\n" +
	"reads whole is left as it is."

// eventsAction is an events subcommand's body, given the spool file.
type eventsAction func(c *cli.Context, path string) error

// eventsSub wraps action with the spool flags and the spool file's lookup.
// The API flags only locate the default spool: no API key is needed.
func eventsSub(name, usage, argsUsage string, flags []cli.Flag, action eventsAction, description string) *cli.Command {
	all := append(append(append([]cli.Flag{}, flags...), spoolFlags()...), apiFlags()...)
	return &cli.Command{
		Name: name, Usage: usage, ArgsUsage: argsUsage, Flags: all, Description: description,
		Action: func(c *cli.Context) error {
			if err := noFlagIDs(c); err != nil {
				return err
			}
			if err := checkNotEmpty(c, eventsNotEmpty...); err != nil {
				return err
			}
			path, base, err := eventsSpoolPath(c)
			if err != nil {
				return err
			}
			if err := missingSpool(path, base); err != nil {
				return err
			}
			if err := noSpoolForFlags(c, path, base); err != nil {
				return err
			}
			return withCommand(c, path, inUse(path, action(c, path)))
		},
	}
}

// lockedError says that an agent holds the spool file.
type lockedError struct {
	path   string
	err    error
	waited time.Duration // how long replay or purge tried the file again
}

func (e *lockedError) Error() string {
	if errors.Is(e.err, control.ErrOtherUser) {
		return fmt.Sprintf("%s: the spool is in use, and %v; nothing was changed", e.path, e.err)
	}
	if errors.Is(e.err, control.ErrNoAgent) {
		return fmt.Sprintf("%s: the spool is in use (still after %s), and no agent answered on its control socket (%v): stop the agent first, or check that this user may use the socket (events list and show work while it runs)", e.path, e.waited, e.err)
	}
	return fmt.Sprintf("%s: the spool is in use by a running agent: stop it first (events list, show, replay and purge work while it runs)", e.path)
}

func (e *lockedError) Unwrap() error { return e.err }

// lockedWait is how long replay and purge try the spool file again while a
// process holds its lock and no listen answers on its control socket:
// another events command (replay, purge, salvage) holds it for one read
// and write of the file, and a listen takes it before it makes its socket
// (it reads the file first, which takes a while for a large one).
const lockedWait = 10 * time.Second

// offlineOrAsk runs offline, which acts on the spool file at path itself;
// while another process holds the file's lock, it asks the listen that
// holds it to act instead (live is true then, with its answer). When no
// listen answers on the control socket, the holder may be another events
// command or a listen still starting: offline is tried again, each try
// waiting for the lock a while, for up to lockedWait (saying so on
// stderr) before the spool is said to be in use. When the socket is
// another user's (control.ErrOtherUser), the spool is said to be in use
// at once, naming that user: nothing is sent to it, and the file, locked,
// is not touched.
func offlineOrAsk(c *cli.Context, path string, offline func() error, req control.Request) (resp control.Response, live bool, err error) {
	deadline := time.Now().Add(lockedWait)
	for noted := false; ; noted = true {
		if err = offline(); !errors.Is(err, spool.ErrLocked) {
			return control.Response{}, false, err
		}
		resp, err = askNoting(c, path, req)
		if errors.Is(err, control.ErrOtherUser) {
			// Waiting would not change whose the socket is.
			return control.Response{}, false, &lockedError{path: path, err: err}
		}
		if !errors.Is(err, control.ErrNoAgent) {
			return resp, true, err
		}
		if c.Context.Err() != nil || time.Now().After(deadline) {
			return control.Response{}, false, &lockedError{path: path, err: err, waited: lockedWait}
		}
		if !noted {
			fmt.Fprintf(c.App.ErrWriter, "note: %s is locked and no listen answers on its control socket: another events command may be using it, or a listen starting; waiting up to %s\n", path, lockedWait)
		}
	}
}

// askNoting is control.Ask, saying on stderr once the running listen has
// taken a second to answer that the command waits for it, and how long
// at most: a stopped or overloaded listen kept the command silent for up
// to 30 s.
func askNoting(c *cli.Context, path string, req control.Request) (control.Response, error) {
	answered, noted := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(noted)
		select {
		case <-time.After(time.Second):
			fmt.Fprintf(c.App.ErrWriter, "note: waiting for the running listen on %s to answer (up to %s; Ctrl-C stops waiting)\n", path, control.AnswerWait)
		case <-answered:
		}
	}()
	resp, err := control.Ask(c.Context, path, req)
	close(answered)
	<-noted // the note, if any, is written before anything after it
	return resp, err
}

// inUse turns the lock error of the spool package into what to do.
func inUse(path string, err error) error {
	if errors.Is(err, spool.ErrLocked) {
		return &lockedError{path: path, err: err}
	}
	return err
}

// eventsSpoolPath is the file of --route (the default route's without it)
// next to base; base is --spool, else the default file of the sources or
// of --create --events given, as listen computes it, else the only spool
// in the default directory (with its routes' files beside it).
func eventsSpoolPath(c *cli.Context) (path, base string, err error) {
	route := "default"
	if r := c.String("route"); r != "" {
		if route, err = parseRouteName(r); err != nil {
			return "", "", err
		}
	}
	if base, err = eventsBasePath(c); err != nil {
		return "", "", err
	}
	return routeSpoolPath(base, route), base, nil
}

// parseRouteName reads --route NAME: "default" (--forward-to's), a type,
// or a type then "-N" for the N-th route of that type.
func parseRouteName(s string) (string, error) {
	if s == "default" {
		return s, nil
	}
	name := s
	if i := strings.LastIndex(s, "-"); i > 0 {
		if t, err := dialpad.ParseSubscriptionType(s[:i]); err == nil {
			name = string(t) + s[i:]
		}
	}
	if t, err := dialpad.ParseSubscriptionType(s); err == nil {
		name = string(t)
	}
	if !validRouteName(name) {
		return "", fmt.Errorf("--route %q: want the name of a listen route: call, sms, agent_status, contact or changelog, with -2, -3, … for the second, third route of a type (or default: --forward-to's)", s)
	}
	return name, nil
}

// eventsBasePath is eventsSpoolPath's base file.
func eventsBasePath(c *cli.Context) (string, error) {
	if p := c.String("spool"); p != "" {
		// The flags that find the spool listen uses are not used with
		// it: typed beside it, they are a mistake (set by the
		// environment, as for listen, they are not).
		for _, name := range []string{"websocket-id", "subscription", "create", "events"} {
			if typedFlag(c, name) {
				return "", fmt.Errorf("%s names the spool file, and --%s (which finds the spool a listen uses) is not used with it: give one or the other", flagLabel(c, "spool"), name)
			}
		}
		return p, nil
	}
	var names []string
	if id := c.Int64("websocket-id"); id < 0 || id == 0 && c.IsSet("websocket-id") {
		return "", fmt.Errorf("%s %d: want the positive id listen runs with", flagLabel(c, "websocket-id"), id)
	} else if id != 0 {
		names = append(names, agent.WebsocketSource(nil, dialpad.ID(id)).Name)
	}
	for _, s := range c.StringSlice("subscription") {
		ref, err := parseSubscriptionRef(flagLabel(c, "subscription"), s)
		if err != nil {
			return "", err
		}
		names = append(names, agent.SubscriptionSource(nil, ref.typ, ref.id).Name)
	}
	switch create, events := c.Bool("create"), c.StringSlice("events"); {
	case create && len(names) > 0:
		return "", errors.New("--create chooses the spool of `listen --create`: drop --websocket-id and --subscription")
	case create:
		types, err := parseTypes(events)
		if err != nil {
			return "", fmt.Errorf("--events: %w", err)
		}
		if len(types) == 0 {
			return "", errors.New("--create needs the --events listen --create runs with, e.g. --create --events call,sms")
		}
		names = []string{createSpoolName(types)}
	case len(events) > 0:
		return "", errors.New("--events chooses the spool of `listen --create --events …`: add --create")
	}
	if len(names) > 0 {
		base, err := apiBase(c)
		if err != nil {
			return "", err
		}
		return defaultSpool(base, names)
	}
	dir, err := stateFile("", "spool")
	if err != nil {
		return "", err
	}
	bases, err := spoolBases(dir)
	if err != nil {
		return "", err
	}
	switch len(bases) {
	case 0:
		return "", fmt.Errorf("no spool in %s: pass --spool PATH, or the --websocket-id, --subscription or --create --events (and --env or --api-base) listen runs with", dir)
	case 1:
		return bases[0], nil
	}
	return "", fmt.Errorf("%d spools in %s; choose one with --spool (or the --websocket-id, --subscription or --create --events listen runs with; --route NAME for a route's):\n  %s",
		len(bases), dir, strings.Join(bases, "\n  "))
}

// spoolBases is the spool files in dir, a route's file counted as its
// base's: one listen setup, one choice.
func spoolBases(dir string) ([]string, error) {
	found, err := filepath.Glob(filepath.Join(dir, "*"+spoolExt))
	if err != nil {
		return nil, err
	}
	var bases []string
	for _, f := range found {
		if b, ok := routeBase(f); ok {
			f = b
		}
		if !slices.Contains(bases, f) {
			bases = append(bases, f)
		}
	}
	return bases, nil
}

// routeBase is the base spool file of a route's file in the default
// directory (dir/NAME.ROUTE.spool), whose default names hold no other dot
// after the API host.
func routeBase(path string) (string, bool) {
	stem := strings.TrimSuffix(path, spoolExt)
	i := strings.LastIndex(stem, ".")
	if i <= len(filepath.Dir(path)) || !validRouteName(stem[i+1:]) {
		return "", false
	}
	return stem[:i] + spoolExt, true
}

// missingSpool explains a spool file that does not exist when files of the
// same listen setup do: the base file of a run with routes only (no
// --forward-to), or a --route that has no file. Without such files, the
// spool package's own error stands.
func missingSpool(path, base string) error {
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	files, err := routeFiles(base)
	if err != nil {
		return nil
	}
	if _, err := os.Stat(base); err == nil {
		files = append([]routeFile{{Path: base}}, files...)
	}
	if len(files) == 0 {
		return nil
	}
	label := func(f routeFile) string {
		if f.Route == "" {
			return "(no --route)"
		}
		return "--route " + f.Route
	}
	width := 0
	for _, f := range files {
		width = max(width, len(label(f)))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "spool: %s: no such spool file; the spools of the same listen are (choose one with --route NAME):", path)
	for _, f := range files {
		fmt.Fprintf(&b, "\n  %-*s  %s  (%s)", width, label(f), f.Path, routeFileSummary(f.Path))
	}
	return errors.New(b.String())
}

// apiBase is the API base URL listen would use. apiConfig insists on a key,
// which the events commands do not need; a placeholder satisfies it.
func apiBase(c *cli.Context) (string, error) {
	if c.String("api-key") == "" {
		if err := c.Set("api-key", "unused"); err != nil {
			return "", err
		}
	}
	cfg, err := apiConfig(c)
	return cfg.BaseURL, err
}

func eventsList(c *cli.Context, path string) error {
	// The states given, or else every state not turned off
	// (--pending=false: the dead and delivered ones).
	var states, notOff []spool.State
	for _, s := range []spool.State{spool.Pending, spool.Dead, spool.Delivered} {
		if c.Bool(string(s)) {
			states = append(states, s)
		} else if !c.IsSet(string(s)) {
			notOff = append(notOff, s)
		}
	}
	if len(states) == 0 {
		states = notOff
	}
	if len(states) == 0 {
		return fmt.Errorf("events %s: every state is turned off (--pending=false --dead=false --delivered=false): nothing to list", c.Command.Name)
	}
	recs, tail, err := spool.Records(path, states...)
	warnTail(c, path, tail)
	if err != nil {
		return err
	}
	defer noteRouteSpools(c, path)
	if c.Bool("json") {
		out := make([]eventJSON, len(recs))
		for i, r := range recs {
			out[i] = toJSON(r, false)
		}
		return printJSON(c.App.Writer, out)
	}
	if len(recs) == 0 {
		_, err := fmt.Fprintf(c.App.Writer, "no %s events in %s\n", joinStates(states), path)
		return err
	}
	return listTable(c.App.Writer, recs)
}

func joinStates(states []spool.State) string {
	s := make([]string, len(states))
	for i, st := range states {
		s[i] = string(st)
	}
	if n := len(s); n > 1 {
		return strings.Join(s[:n-1], ", ") + " or " + s[n-1]
	}
	return strings.Join(s, "")
}

func eventsShow(c *cli.Context, path string) error {
	if c.NArg() != 1 {
		return fmt.Errorf("events %s: want one delivery id (or at least %d characters of it)", c.Command.Name, spool.MinPrefix)
	}
	r, tail, err := spool.Find(path, c.Args().First())
	warnTail(c, path, tail)
	if err != nil {
		noteIfNotFound(c, path, err)
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, toJSON(r, true))
	}
	return showText(c.App.Writer, r)
}

func eventsReplay(c *cli.Context, path string) error {
	sel := spool.Selection{IDs: c.Args().Slice(), Dead: c.Bool("dead")}
	if s := c.String("since"); s != "" {
		t, err := parseSince(s, time.Now())
		if err != nil {
			return err
		}
		sel.Since = t
	}
	filtered := sel.Dead || !sel.Since.IsZero()
	if len(sel.IDs) == 0 && !filtered {
		return fmt.Errorf("events %s: say what to replay: delivery ids, or --dead and/or --since T", c.Command.Name)
	}
	if len(sel.IDs) > 0 && filtered {
		return fmt.Errorf("events %s: give delivery ids or --dead/--since, not both (--dead --since T is the dead letters finished since T)", c.Command.Name)
	}
	var res spool.Replayed
	resp, live, err := offlineOrAsk(c, path, func() (err error) {
		res, err = spool.Replay(path, sel)
		return err
	}, control.Request{Op: "replay", IDs: sel.IDs, Dead: sel.Dead, Since: sel.Since})
	if live { // a listen holds the file: it replayed
		res = spool.Replayed{N: resp.Replayed, Refused: resp.Refused, NonEvents: resp.NonEvents}
	}
	var locked *lockedError
	if errors.As(err, &locked) {
		return err
	}
	warnTail(c, path, res.Tail)
	if err != nil {
		noteIfNotFound(c, path, err)
		return err
	}
	msg, sep := "nothing to replay in "+path, ": "
	if res.N == 0 {
		defer noteRouteSpools(c, path)
	}
	switch {
	case res.N > 0 && live:
		msg, sep = fmt.Sprintf("put back %d %s as pending in %s; the running listen delivers %s after the events already waiting (same delivery %s)",
			res.N, plural(res.N, "event"), path, them(res.N), plural(res.N, "id")), "; "
	case res.N > 0:
		msg, sep = fmt.Sprintf("put back %d %s as pending in %s; listen delivers %s at its next start (same delivery %s)",
			res.N, plural(res.N, "event"), path, them(res.N), plural(res.N, "id")), "; "
	}
	if res.Refused > 0 {
		verb := "are"
		if res.Refused == 1 {
			verb = "is"
		}
		msg += fmt.Sprintf("%s%d %s refused on arrival (--verify-secret) %s never replayed",
			sep, res.Refused, plural(res.Refused, "frame"), verb)
		sep = "; "
	}
	if res.NonEvents > 0 {
		msg += fmt.Sprintf("%s%d %s kept although not events (--non-event-frames keep) left dead: replay such a frame by its id",
			sep, res.NonEvents, plural(res.NonEvents, "frame"))
	}
	_, err = fmt.Fprintln(c.App.Writer, msg)
	return err
}

// noteIfNotFound tells of the route spools next to path (noteRouteSpools)
// when err says an id is in none of path's events: it may be in one of
// them. A running listen's answer is its error's text only.
func noteIfNotFound(c *cli.Context, path string, err error) {
	if errors.Is(err, spool.ErrNotFound) || strings.Contains(err.Error(), spool.ErrNotFound.Error()) {
		noteRouteSpools(c, path)
	}
}

// noFlagIDs refuses an id that looks like a flag (one after "--";
// arrangeArgs refuses the others): no delivery id starts with a dash.
func noFlagIDs(c *cli.Context) error {
	for _, a := range c.Args().Slice() {
		if len(a) > 1 && a[0] == '-' {
			name, _, _ := strings.Cut(a, "=") // never echo a value: it may be a secret
			return fmt.Errorf("events %s: %s is not an id (see dialpad-tunnel events %s --help)", c.Command.Name, console.Safe(clip(name, 40)), c.Command.Name)
		}
	}
	return nil
}

// parseSince reads --since: an RFC 3339 time, or a duration before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		// Nothing finished after now: a time zone left out or mistyped,
		// most likely, which would select nothing without a word.
		if t.After(now) {
			return time.Time{}, fmt.Errorf("--since %q: that is after now (%s): want a time past (is its time zone right?)", s, now.Format(time.RFC3339))
		}
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("--since %q: want an RFC 3339 time (2026-01-02T15:04:05Z) or a duration ago, above 0 (90m, 1h)", s)
	}
	return now.Add(-d), nil
}

func eventsPurge(c *cli.Context, path string) error {
	var states []spool.State
	if c.Bool("dead") {
		states = append(states, spool.Dead)
	}
	if c.Bool("delivered") {
		states = append(states, spool.Delivered)
	}
	if len(states) == 0 {
		return fmt.Errorf("events %s: say what to purge: --dead, --delivered or both", c.Command.Name)
	}
	var (
		n    []int
		tail spool.Tail
	)
	resp, live, err := offlineOrAsk(c, path, func() (err error) {
		n, tail, err = spool.PurgeStates(path, states...)
		return err
	}, control.Request{Op: "purge", States: states})
	var locked *lockedError
	if errors.As(err, &locked) {
		return err
	}
	if live { // a listen holds the file: it purged
		n = resp.Purged
		if err == nil && len(n) != len(states) {
			// Not this version's answer: no count to show for what it did.
			err = fmt.Errorf("events %s: the running listen on %s answered without the counts asked for (a listen of another version?): see `events list --spool %s`", c.Command.Name, path, path)
		}
	}
	warnTail(c, path, tail)
	if err != nil {
		return err
	}
	for i, s := range states {
		if _, err := fmt.Fprintf(c.App.Writer, "purged %d %s %s from %s\n", n[i], s, plural(n[i], "event"), path); err != nil {
			return err
		}
	}
	return nil
}

func eventsSalvage(c *cli.Context, path string) error {
	if c.Args().Present() {
		return fmt.Errorf("events %s takes no ids: it keeps whatever is intact", c.Command.Name)
	}
	s, err := spool.Salvage(path)
	if err != nil {
		return err
	}
	w := c.App.Writer
	now := fmt.Sprintf("%d pending, %d dead, %d delivered", s.Pending, s.Dead, s.Delivered)
	if !s.Changed() {
		_, err := fmt.Fprintf(w, "%s reads whole: nothing to salvage (%s)\n", path, now)
		return err
	}
	fmt.Fprintf(w, "salvaged %s: kept %d intact %s (%d B)\n", path, s.Batches, plural(s.Batches, "batch"), s.Kept)
	for _, r := range s.Damaged {
		fmt.Fprintf(w, "  skipped %d damaged bytes at offset %d\n", r.Bytes, r.Offset)
	}
	if s.Tail > 0 {
		fmt.Fprintf(w, "  dropped the unfinished last batch, %d B (a crash before its sync: none of its events was reported stored)\n", s.Tail)
	}
	fmt.Fprintf(w, "the file as it was: %s\n", s.Original)
	fmt.Fprintf(w, "now: %s\n", now)
	if len(s.Damaged) > 0 {
		_, err = fmt.Fprintln(w, "Events stored only in the skipped bytes are lost; one whose delivery was recorded there is delivered again at the next start.")
	}
	return err
}

func plural(n int, word string) string {
	if n != 1 && strings.HasSuffix(word, "ch") {
		return word + "es"
	}
	if n == 1 {
		return word
	}
	return word + "s"
}

// them is the pronoun for n events: "it" for one.
func them(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}
