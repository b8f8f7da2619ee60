package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/setup"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
	"github.com/urfave/cli/v2"

	"github.com/dialpad-tunnel/dialpad-tunnel/console"
)

// cleanupTimeout bounds deleting what `listen --create` made, after Ctrl-C.
const cleanupTimeout = 30 * time.Second

// createFlags are listen's flags for --create.
func createFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.BoolFlag{Name: "create", Usage: "create a websocket and --events subscriptions for this run; delete them on exit"},
		&cli.StringSliceFlag{Name: "events", Usage: "event types to forward (a filter), e.g. call,sms; with --create: the types to subscribe to (call, sms, agent_status, contact, changelog)"},
		&cli.BoolFlag{Name: "keep", Usage: "with --create: keep the websocket and subscriptions on exit and print their ids"},
		&cli.StringFlag{Name: "secret", Usage: "with --create: websocket secret, so events arrive as HS256 JWTs your handler verifies (never printed)", EnvVars: []string{"DIALPAD_WEBSOCKET_SECRET"}},
	}, subscriptionFlags()...)
}

// checkCreateFlags refuses --create's flags without --create. A secret
// from DIALPAD_WEBSOCKET_SECRET (shared with setup), even an empty one, is
// not an error.
func checkCreateFlags(c *cli.Context) error {
	for _, name := range []string{"keep", "secret"} {
		if c.IsSet(name) && (name != "secret" || envSource(c, "secret") == "") {
			return fmt.Errorf("--%s needs --create", name)
		}
	}
	for name := range subscriptionOptions {
		if c.IsSet(name) && name != "call-states" { // --call-states also filters
			return fmt.Errorf("--%s needs --create", name)
		}
	}
	return nil
}

// checkWebsocketSecret refuses an empty --secret (--secret= or an empty
// DIALPAD_WEBSOCKET_SECRET) of a command that creates a websocket: taken
// for "none", it would silently make an unsigned websocket, whose events a
// verifying handler refuses. The value is never shown.
func checkWebsocketSecret(c *cli.Context) error {
	return checkNotEmpty(c, emptyFlag{"secret", "the secret", "for a websocket whose events are not signed"})
}

// created is what `listen --create` made for its run.
type created struct {
	websocket     dialpad.ID // 0 until Dialpad answered its create
	subscriptions []typedSub
	// creating is the create asked of Dialpad and not answered:
	// "websocket" or a subscription's type; "" when none is.
	creating string
}

func (cr created) String() string {
	parts := make([]string, len(cr.subscriptions))
	for i, s := range cr.subscriptions {
		parts[i] = string(s.typ) + " " + s.sub.ID.String()
	}
	ws := "websocket " + cr.websocket.String()
	if cr.websocket == 0 {
		ws = "no websocket"
	}
	subs := "subscriptions " + strings.Join(parts, ", ")
	if len(parts) == 0 {
		subs = "no subscriptions"
	}
	s := ws + ", " + subs
	if cr.creating != "" {
		s += ", and a " + cr.creating + " create never answered"
	}
	return s
}

// listenCreate runs `listen --create`: create, listen until ctx is done,
// then delete what was created unless --keep. out gets the --keep lines,
// after the log lines before them (logOutput.Sync).
func listenCreate(c *cli.Context, log *slog.Logger, out io.Writer) error {
	if err := checkWebsocketSecret(c); err != nil {
		return err
	}
	if c.IsSet("websocket-id") || len(c.StringSlice("subscription")) > 0 {
		return errors.New("--create makes its own websocket: drop --websocket-id and --subscription")
	}
	types, err := parseTypes(c.StringSlice("events"))
	if err != nil {
		return fmt.Errorf("--events: %w", err)
	}
	if len(types) == 0 {
		return errors.New("--create needs --events, e.g. --events call,sms")
	}
	specs, err := specsFromFlags(c, types)
	if err != nil {
		return err
	}
	o, err := listenOptionsFrom(c)
	if err != nil {
		return err
	}
	// A port in use stops it before it makes anything: made, it would be
	// deleted at once, or with --keep left behind.
	if err := o.bindMetrics(); err != nil {
		return err
	}
	if o.metrics != nil {
		defer o.metrics.Close() // runListen closes it too, unless it never runs
	}
	warnTypedSecrets(c, log)
	warnUnknownCallStates(c, o.Agent.CallStates, log)
	cfg := o.API
	cfg.Logger = log
	client, err := dialpad.New(cfg)
	if err != nil {
		return err
	}
	// Made once the spool is open and locked (a run sharing it stops
	// before making anything), and recorded beside it (with --no-spool,
	// in a record of its own) before each create and as each answer comes.
	var (
		cr        created
		createErr error
		rec       = &createRecorder{client: client, apiBase: o.API.BaseURL, apiFlags: apiChoice(c), log: log}
	)
	defer rec.close()
	create := func(note func(created) error) (created, error) {
		cr, createErr = createForRun(c.Context, client, c.String("secret"), specs, note)
		if createErr == nil {
			log.Info("created for this run", "ids", cr.String(), "signed", c.String("secret") != "")
		}
		return cr, createErr
	}
	o.createSource = func(ctx context.Context, base string, lastRun time.Time) (dialpad.ID, time.Time, error) {
		path := "" // --no-spool: a record of its own
		if base != "" {
			path = createdRecordPath(base)
		}
		made, downSince, err := rec.claim(ctx, path, lastRun, create)
		return made.websocket, downSince, err
	}
	o.Spool.Name = createSpoolName(types) // not the websocket's id: the next run opens this file
	// The record's lock, taken by claim, is held until what the run made
	// is deleted (or kept) and the record says so (rec.close): a --create
	// run with other --events that found it free would take this run for
	// a crashed one (claimOthers) and delete what it made, even what
	// --keep keeps.
	runErr := runListen(c.Context, o, log)
	if createErr != nil {
		cleanErr := cleanup(c.Context, client, cr, leftInSpool{}, apiChoice(c), log)
		if cleanErr == nil && cr.websocket != 0 {
			// A subscription cut off mid-create went with its websocket:
			// nothing is left to warn of, nor for the next run to find.
			cr.creating = ""
		}
		err := errors.Join(withFix(createErr), cleanErr)
		if cr.creating != "" {
			// Kept in the record: the next run warns of it again.
			return fmt.Errorf("%w\n  %s", err, unansweredNote(cr, rec.started, apiChoice(c)))
		}
		if cleanErr == nil {
			err = errors.Join(err, rec.release())
		}
		return err
	}
	if errors.Is(runErr, spool.ErrLocked) && o.Spool.Path == "" {
		runErr = fmt.Errorf("%w\n  runs of `listen --create` with the same --events and --env/--api-base share one spool: stop the other, or give this one its own --spool PATH", runErr)
	}
	if cr.websocket == 0 { // stopped before it made anything
		return runErr
	}
	left := spoolLeft(o)
	if c.Bool("keep") {
		fmt.Fprintf(out, "kept %s\nnext time: %s\n", cr, nextTime(c, o, cr.websocket.String(), left.path))
		return errors.Join(runErr, rec.release()) // kept on purpose: not a leftover
	}
	cleanupErr := cleanup(c.Context, client, cr, left, apiChoice(c), log)
	if cleanupErr == nil {
		// Kept in the record until deleted: the next run retries.
		cleanupErr = rec.release()
	}
	if cleanupErr != nil && runErr != nil {
		// A failed clean-up is an error (exit 1), even after a run that
		// lost events (exit 3): the first exit code found would win.
		runErr = errors.New(runErr.Error())
	}
	return errors.Join(runErr, cleanupErr)
}

// leftInSpool is what a `listen --create` run left in its spool.
type leftInSpool struct {
	path     string   // the base spool file; "" with --no-spool
	explicit bool     // path is --spool's
	pending  int      // pending events in it and its routes' files
	routes   []string // the route files holding some of them
}

// spoolLeft counts the pending events the run of o left in its spool
// files, reading them once the run has closed them. A file it cannot read
// counts nothing: listen has said why already.
func spoolLeft(o listenOptions) leftInSpool {
	if o.Spool.Off {
		return leftInSpool{}
	}
	base, err := o.Spool.basePath(o.API.BaseURL, nil)
	if err != nil {
		return leftInSpool{}
	}
	left := leftInSpool{path: base, explicit: o.Spool.Path != ""}
	for _, r := range o.Routes {
		if n, err := stateCounts(routeSpoolPath(base, r.Name), spool.Pending); err == nil {
			left.pending += n[spool.Pending]
			if r.Name != "default" && n[spool.Pending] > 0 {
				left.routes = append(left.routes, routeSpoolPath(base, r.Name))
			}
		}
	}
	return left
}

// withRoutes adds to the clean-up line, when routes' spools hold some of
// the events left, that they need the same --route flags.
func withRoutes(left leftInSpool) string {
	if len(left.routes) == 0 {
		return ""
	}
	return ", and the same --route flags for those in the route spools"
}

// apiChoice is the --env and --api-base a command was run with (given or
// from the environment), for a command line it prints to go on with the
// same API; never the API key.
func apiChoice(c *cli.Context) []string {
	var args []string
	for _, flag := range []string{"env", "api-base"} {
		if c.IsSet(flag) {
			args = append(args, "--"+flag+" "+console.ShellWord(c.String(flag)))
		}
	}
	return args
}

// nextTime is the listen command line that goes on with what --keep kept:
// the websocket, the API base, the handlers, their extra headers and the
// spool. A handler URL's password and query are hidden, and so is every
// header's value (they may hold secrets: a header is often a bearer
// token), with a word saying so.
func nextTime(c *cli.Context, o listenOptions, websocket, spoolPath string) string {
	args := append([]string{"dialpad-tunnel listen --websocket-id " + websocket}, apiChoice(c)...)
	hidden := false
	shown := func(raw string) string {
		r := redactedURL(raw)
		hidden = hidden || r != raw
		return console.ShellWord(r)
	}
	for _, r := range o.Routes {
		if r.Name == "default" {
			args = append(args, "--forward-to "+shown(r.Forward.URL))
		} else {
			args = append(args, "--route "+console.ShellWord(strings.Join(r.Types, ","))+"="+shown(r.Forward.URL))
		}
	}
	headers := headerPlaceholders(c)
	args = append(args, headers...)
	others, secrets := otherListenFlags(c)
	args = append(args, others...)
	if spoolPath != "" {
		args = append(args, "--spool "+console.ShellWord(spoolPath))
	}
	line := strings.Join(args, " ")
	if hidden {
		line += "\n  (a password or query in a handler URL is shown as xxxxx: put yours back)"
	}
	if len(headers) > 0 {
		line += "\n  (the values of --header and --route-header are left out, shown as …: put yours back)"
	}
	if envs := headerEnvsSet(); len(envs) > 0 {
		them := "it"
		if len(envs) > 1 {
			them = "them"
		}
		line += fmt.Sprintf("\n  (headers are read from %s too, not shown here: set %s before you run it)", strings.Join(envs, ", "), them)
	}
	if len(secrets) > 0 {
		them := "it"
		if len(secrets) > 1 {
			them = "them"
		}
		line += fmt.Sprintf("\n  (secrets are read from %s: set %s before you run it, or put yours back)", strings.Join(secrets, ", "), them)
	}
	return line
}

// notRepeated are listen's flags that otherListenFlags leaves out: those
// nextTime writes itself; --create's own, as the next run listens to what
// this one kept (its subscriptions already choose the events); and the API
// key, which is never printed.
var notRepeated = func() map[string]bool {
	m := map[string]bool{"websocket-id": true, "subscription": true, "forward-to": true, "route": true,
		"header": true, "route-header": true, "spool": true, "env": true, "api-base": true, "api-key": true,
		"create": true, "keep": true, "secret": true, "events": true, "cpuprofile": true}
	for name := range subscriptionOptions {
		m[name] = true
	}
	return m
}()

// otherListenFlags are the run's other listen flags, given on the command
// line or by the environment, in their --help order, for nextTime: each
// with its value, but a secret as its environment variable ("$NAME"),
// whose names it returns too.
func otherListenFlags(c *cli.Context) (args, secretEnvs []string) {
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		if notRepeated[name] || !c.IsSet(name) {
			continue
		}
		if i := slices.IndexFunc(secretFlags, func(s struct{ flag, env, without string }) bool { return s.flag == name }); i >= 0 {
			args = append(args, "--"+name+` "$`+secretFlags[i].env+`"`)
			secretEnvs = append(secretEnvs, secretFlags[i].env)
			continue
		}
		switch f.(type) {
		case *cli.BoolFlag:
			args = append(args, "--"+name+"="+strconv.FormatBool(c.Bool(name)))
		case *cli.StringSliceFlag:
			for _, v := range c.StringSlice(name) {
				args = append(args, "--"+name+" "+console.ShellWord(v))
			}
		default:
			args = append(args, "--"+name+" "+console.ShellWord(fmt.Sprint(c.Value(name))))
		}
	}
	return args, secretEnvs
}

// headerPlaceholders are the --header and --route-header flags of the
// run, in order, each with its header's name and "…" for its value.
// listen has checked them: each holds a name and a colon.
func headerPlaceholders(c *cli.Context) []string {
	var args []string
	for _, kv := range c.StringSlice("header") {
		name, _, _ := strings.Cut(kv, ":")
		args = append(args, "--header "+console.ShellWord(strings.TrimSpace(name)+": …"))
	}
	for _, kv := range c.StringSlice("route-header") {
		typ, header, _ := strings.Cut(kv, "=")
		name, _, _ := strings.Cut(header, ":")
		args = append(args, "--route-header "+console.ShellWord(typ+"="+strings.TrimSpace(name)+": …"))
	}
	return args
}

// headerEnvsSet are the header variables (DIALPAD_TUNNEL_HEADERS,
// DIALPAD_TUNNEL_ROUTE_HEADERS) that hold a header, for nextTime's note:
// their values are not repeated, as a --header's are not.
func headerEnvsSet() []string {
	var out []string
	for _, env := range []string{headersEnv, routeHeadersEnv} {
		if strings.TrimSpace(os.Getenv(env)) != "" {
			out = append(out, env)
		}
	}
	return out
}

// createForRun creates the websocket, then one subscription per spec,
// calling note with what is made so far before each create request (with
// the create it asks for in creating) and again once its answer came, so
// that a record says what may exist at every moment. A create Dialpad
// refused (a 4xx answer) made nothing: it is noted as not being made. On
// error it returns what it created so far, for cleanup, with creating set
// while a create may have made something all the same (no answer came).
func createForRun(ctx context.Context, client *dialpad.Client, secret string, specs []setup.SubscriptionSpec, note func(created) error) (created, error) {
	var cr created
	asked := func(what string) error {
		cr.creating = what
		if err := note(cr); err != nil {
			cr.creating = "" // not asked: the record could not say so
			return err
		}
		return nil
	}
	answered := func(err error) error {
		if err != nil && !dialpad.IsRefused(err) {
			return err // no answer: it may exist all the same
		}
		cr.creating = ""
		return errors.Join(err, note(cr))
	}
	if err := asked("websocket"); err != nil {
		return cr, err
	}
	ws, err := client.CreateWebsocket(ctx, secret)
	if err == nil {
		cr.websocket = ws.ID
	}
	if err := answered(err); err != nil {
		return cr, err
	}
	for _, spec := range specs {
		if err := asked(string(spec.Type)); err != nil {
			return cr, err
		}
		s, err := client.CreateSubscription(ctx, spec.Type, spec.Request(ws.ID))
		if err == nil {
			cr.subscriptions = append(cr.subscriptions, typedSub{spec.Type, s})
		}
		if err := answered(err); err != nil {
			return cr, err
		}
	}
	return cr, nil
}

// cleanup deletes what this run made, cr (deleteCreated), even after ctx
// was cancelled (Ctrl-C), within cleanupTimeout. Its log line says which
// run delivers the events left in the spool.
func cleanup(ctx context.Context, client *dialpad.Client, cr created, left leftInSpool, apiFlags []string, log *slog.Logger) error {
	if cr.websocket == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := deleteCreated(ctx, client, cr, apiFlags); err != nil {
		return err
	}
	switch {
	case left.pending == 0:
		log.Info("deleted what --create made", "ids", cr.String())
	case left.explicit:
		log.Info("deleted what --create made; the events left in the spool are delivered by the next listen with this --spool"+withRoutes(left),
			"ids", cr.String(), "pending", left.pending, "spool", left.path, "route_spools", strings.Join(left.routes, ", "))
	default:
		log.Info("deleted what --create made; the events left in the spool are delivered by the next `listen --create` with the same --events and --env/--api-base (or a listen with --spool set to this file)"+withRoutes(left),
			"ids", cr.String(), "pending", left.pending, "spool", left.path, "route_spools", strings.Join(left.routes, ", "))
	}
	return nil
}

// deleteCreated deletes the subscriptions and then the websocket of cr
// within ctx. Objects already gone are not an error. When a delete fails,
// its error gives the command that deletes each object left, with
// apiFlags (the run's --env and --api-base).
func deleteCreated(ctx context.Context, client *dialpad.Client, cr created, apiFlags []string) error {
	var errs []error
	var commands []string // one per object left
	command := func(words ...string) string { return commandLine(apiFlags, words...) }
	gone := func(err error) bool { return err == nil || dialpad.IsNotFound(err) }
	for _, s := range cr.subscriptions {
		if _, err := client.DeleteSubscription(ctx, s.typ, s.sub.ID); !gone(err) {
			errs = append(errs, err)
			commands = append(commands, command("subscriptions", "delete", "--type", string(s.typ), s.sub.ID.String()))
		}
	}
	if _, err := client.DeleteWebsocket(ctx, cr.websocket); !gone(err) {
		errs = append(errs, err)
		commands = append(commands, command("websockets", "delete", cr.websocket.String()))
	}
	if len(errs) > 0 {
		return fmt.Errorf("could not delete everything --create made (%s); delete what is left with %s: %w", cr, strings.Join(commands, " and "), errors.Join(errs...))
	}
	return nil
}
