package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/agent"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
	"github.com/dialpad-tunnel/dialpad-tunnel/metrics"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
	"github.com/urfave/cli/v2"
)

// apiFlags name the Dialpad account and API to talk to.
func apiFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "api-key", Usage: "Dialpad API key (never printed)", EnvVars: []string{"DIALPAD_API_KEY"}},
		&cli.StringFlag{Name: "env", Value: "production", Usage: "production or sandbox: picks the documented API base URL", EnvVars: []string{"DIALPAD_ENV"}},
		&cli.StringFlag{Name: "api-base", Usage: "API base URL, overrides --env (e.g. the emulator's http://127.0.0.1:8089)", EnvVars: []string{"DIALPAD_API_BASE"}},
	}
}

func listenCommand() *cli.Command {
	flags := append([]cli.Flag{
		&cli.Int64Flag{Name: "websocket-id", Usage: "id of the Dialpad websocket to listen to (all its subscriptions)", EnvVars: []string{"DIALPAD_WEBSOCKET_ID"}},
		&cli.StringSliceFlag{Name: "subscription", Usage: "TYPE:ID of one subscription to listen to with its own connection; repeatable (TYPE: call, sms, agent_status, contact, changelog)", EnvVars: []string{"DIALPAD_SUBSCRIPTIONS"}},
		&cli.StringFlag{Name: "forward-to", Usage: "URL of the local webhook handler (required unless --route gives one for every type)", EnvVars: []string{"DIALPAD_FORWARD_TO"}},
		&cli.StringSliceFlag{Name: "header", Usage: "extra header for every POST, as 'Name: value'; repeatable; also, one a line, from $DIALPAD_TUNNEL_HEADERS (out of the process list: for a token)"},
		&cli.StringFlag{Name: "content-type-json", Value: "application/json", Usage: "Content-Type for JSON events"},
		&cli.StringFlag{Name: "content-type-jwt", Value: "application/jwt", Usage: "Content-Type for JWT events (websocket with a secret)"},
		&cli.StringFlag{Name: "user-agent", Value: "dialpad-tunnel/" + version, Usage: "User-Agent of the POSTs"},
		&cli.IntFlag{Name: "concurrency", Value: 8, Usage: "deliveries in parallel (events of one call, SMS, agent or contact stay in order)"},
		&cli.IntFlag{Name: "max-attempts", Value: 0, Usage: "attempts per event, first one included; 0: retry until --max-age"},
		&cli.DurationFlag{Name: "timeout", Value: 10 * time.Second, Usage: "time limit of one POST attempt"},
		&cli.DurationFlag{Name: "retry-wait-min", Value: 250 * time.Millisecond, Usage: "shortest wait between attempts"},
		&cli.DurationFlag{Name: "retry-wait-max", Value: 30 * time.Second, Usage: "longest wait between attempts (also caps Retry-After)"},
		&cli.DurationFlag{Name: "rotate-before", Value: 5 * time.Minute, Usage: "open a fresh connection this long before the token expires"},
		&cli.DurationFlag{Name: "ping-interval", Value: 20 * time.Second, Usage: "how often each connection is pinged (less than half --pong-wait)"},
		&cli.DurationFlag{Name: "pong-wait", Value: 45 * time.Second, Usage: "no pong for this long ends a connection (half of it opens a replacement); Dialpad does not document its pongs"},
		&cli.DurationFlag{Name: "max-conn-lifetime", Value: 55 * time.Minute, Usage: "rotate a connection at the latest this long after it opened, whatever its token's exp says, and then if exp cannot be read (Dialpad ends every connection after an hour)"},
		&cli.DurationFlag{Name: "reconnect-wait-min", Value: 500 * time.Millisecond, Usage: "first wait before connecting again after a connection was lost or could not be made; it doubles, with jitter, at each failure"},
		&cli.DurationFlag{Name: "reconnect-wait-max", Value: time.Minute, Usage: "longest wait before connecting again (also caps a refused refresh's Retry-After)"},
		&cli.StringFlag{Name: "stop-on-status", Value: "401,403,404", Usage: "REST statuses, comma-separated, that stop listen when fetching a websocket_url; others are retried with the reconnect backoff; none: retry every one (that Dialpad throttles with 429, not 403, is inferred)"},
		&cli.DurationFlag{Name: "dedupe-window", Value: 2 * time.Minute, Usage: "how long a frame is remembered, around a rotation or a replacement, to drop its copy on another connection (at most 50,000 frames)"},
		&cli.Int64Flag{Name: "max-frame-bytes", Value: 8 << 20, Usage: "largest websocket frame accepted, in bytes: 1024 (1 KiB) to 67108864 (64 MiB)"},
		&cli.DurationFlag{Name: "drain-timeout", Value: 10 * time.Second, Usage: "on Ctrl-C, SIGTERM or SIGHUP, how long deliveries in flight may still take"},
		&cli.StringFlag{Name: "spool", Usage: "spool file: every event is stored here before delivery (default $XDG_STATE_HOME/dialpad-tunnel/spool/<host>-<sources>.spool; with --create <host>-create-<types>.spool); each --route's file has .<route> before .spool", EnvVars: []string{"DIALPAD_TUNNEL_SPOOL"}},
		&cli.StringFlag{Name: "non-event-frames", Value: "skip", Usage: "a frame that is not an event (neither a JSON object nor a compact JWT): skip (log its size and the reason, and count it), keep (also keep its bytes as a dead letter, for events show and events replay ID) or forward (forward it as it came, as an event of unknown type, should Dialpad's events come in a form other than the one inferred)"},
		&cli.BoolFlag{Name: "no-spool", Usage: "keep events in memory only: a crash or restart loses what is not delivered yet"},
		&cli.IntFlag{Name: "queue-max-mib", Value: 256, Usage: "with --no-spool: the most MiB of event bodies waiting in memory; beyond it reading the websocket pauses until deliveries make room; 0: no bound"},
		&cli.IntFlag{Name: "memory-limit-mib", Value: 48, Usage: "soft memory limit for the Go runtime in MiB (GOMEMLIMIT wins when set); 0: none"},
		&cli.IntFlag{Name: "procs", Value: 0, Usage: "CPU cores the agent may run Go code on at once (GOMAXPROCS wins when set); 0: Go's default, every core the process may use (a container's CPU limit counts)"},
		&cli.DurationFlag{Name: "status-interval", Value: time.Minute, Usage: "how often a status line (connections, received, delivered, pending, gaps) is logged; 0: never"},
		&cli.DurationFlag{Name: "max-age", Value: 24 * time.Hour, Usage: "an event still undelivered this long after it arrived becomes a dead letter"},
		&cli.IntFlag{Name: "keep-delivered", Value: 1000, Usage: "delivered events kept in the spool for events show and events replay (0: none)"},
		&cli.DurationFlag{Name: "keep-delivered-for", Value: 24 * time.Hour, Usage: "delivered events are kept at most this long"},
		&cli.StringFlag{Name: "metrics-addr", Usage: "serve Prometheus metrics at /metrics and a health check at /healthz (200 while connected to Dialpad, else 503) on this HOST:PORT, e.g. 127.0.0.1:9464; port 0 picks one, logged at start", EnvVars: []string{"DIALPAD_TUNNEL_METRICS_ADDR"}},
		&cli.StringFlag{Name: "cpuprofile", Hidden: true, Usage: "write a CPU profile of the run to this file (go tool pprof); for bench --cpuprofile"},
	}, apiFlags()...)
	return &cli.Command{
		Name:  "listen",
		Usage: "listen to a Dialpad websocket (or subscriptions) and forward every event to --forward-to",
		UsageText: "DIALPAD_API_KEY=... dialpad-tunnel listen --websocket-id 1234 --forward-to http://localhost:3000/webhooks\n" +
			"dialpad-tunnel listen --subscription call:5678 --subscription sms:5679 --forward-to http://localhost:3000/hook",
		Flags: append(append(append(append(flags, forwardTLSFlags()...), logFlags()...), createFlags()...), routeFlags()...),
		Action: func(c *cli.Context) error {
			// A closed stdout or stderr (`listen | head -1`, a log shipper
			// that died) would kill the process by SIGPIPE at its next log
			// line, as kill -9 does: no drain, no last lines, the control
			// socket and what --create made left behind. Ignored, such a
			// write fails with EPIPE, and listen goes on forwarding (its
			// log lines are lost) until a stop signal.
			signal.Ignore(syscall.SIGPIPE)
			if err := checkRanges(c); err != nil {
				return err
			}
			if err := checkSecrets(c); err != nil {
				return err
			}
			if err := checkNotEmpty(c, listenNotEmpty...); err != nil {
				return err
			}
			log, out, err := newLogger(c, c.App.Writer)
			if err != nil {
				return err
			}
			defer closeLog(out, c.App.ErrWriter)
			if err := setProcs(c.Int("procs")); err != nil {
				return err
			}
			// Without a spool every waiting event is in memory: a limit only
			// makes the collector run without end in a burst, unless asked for.
			if !c.Bool("no-spool") || c.IsSet("memory-limit-mib") {
				setMemoryLimit(c.Int("memory-limit-mib"))
			}
			if c.Bool("create") { // create.go
				return listenCreate(c, log, out.Sync())
			}
			if err := checkCreateFlags(c); err != nil {
				return err
			}
			o, err := listenOptionsFrom(c)
			if err != nil {
				return err
			}
			warnTypedSecrets(c, log) // once the flags are known good: not beside a refusal
			warnUnknownCallStates(c, o.Agent.CallStates, log)
			stop, err := startCPUProfile(c.String("cpuprofile"))
			if err != nil {
				return err
			}
			defer stop()
			return runListen(c.Context, o, log)
		},
	}
}

// listenOptions is everything `listen` needs, gathered from flags.
type listenOptions struct {
	Spool         spoolOptions
	API           dialpad.Config
	WebsocketID   dialpad.ID
	Subscriptions []subscriptionRef
	Forward       forward.Config // the shared settings; Routes carry each handler's
	Routes        []routeOptions
	Agent         agent.Config
	MetricsAddr   string          // --metrics-addr: "" serves none
	MetricsLabel  string          // how errors name it (flagLabel)
	metrics       *metrics.Server // MetricsAddr once bound (bindMetrics)
	// createSource (listen --create) makes the websocket listened to, once
	// the spool (base, its base file; "" with --no-spool) is open and
	// locked; lastRun is the spool's last sign of life. Dialpad sent
	// nothing to it before, so the time since an earlier run is no gap of
	// its, unless it reports downSince: an earlier --create run crashed,
	// and what it made took the events sent since then.
	createSource func(ctx context.Context, base string, lastRun time.Time) (websocket dialpad.ID, downSince time.Time, err error)
}

type subscriptionRef struct {
	typ dialpad.SubscriptionType
	id  dialpad.ID
}

// apiConfig reads the API flags; the key is required.
func apiConfig(c *cli.Context) (dialpad.Config, error) {
	cfg := dialpad.Config{APIKey: c.String("api-key"), UserAgent: "dialpad-tunnel/" + version}
	if err := checkNotEmpty(c, apiBaseNotEmpty); err != nil {
		return cfg, err
	}
	if cfg.APIKey == "" {
		return cfg, errors.New("no API key: set DIALPAD_API_KEY or pass --api-key")
	}
	if strings.ContainsAny(cfg.APIKey, "\r\n") {
		// Pasted with its newline, most often (a key file read whole).
		return cfg, fmt.Errorf("%s has a line break in it (copied with its newline?): remove it; the key is not shown", flagLabel(c, "api-key"))
	}
	// An unknown --env is refused also when --api-base overrides it: it is
	// a typo either way.
	switch env := c.String("env"); env {
	case "production":
		cfg.BaseURL = dialpad.ProductionBase
	case "sandbox":
		cfg.BaseURL = dialpad.SandboxBase
	default:
		return cfg, fmt.Errorf("%s %q: want production or sandbox", flagLabel(c, "env"), env)
	}
	if base := c.String("api-base"); base != "" {
		if err := checkAPIBase(base); err != nil {
			return cfg, fmt.Errorf("%s: %w", flagLabel(c, "api-base"), err)
		}
		cfg.BaseURL = base
	}
	return cfg, nil
}

// checkAPIBase refuses what cannot be an API base: not an http or https
// URL with a host, one with a user, a query or a fragment (dialpad.New
// refuses those too, naming neither the flag nor the variable), or one
// whose port is not 1 to 65535, which the REST client would otherwise
// retry without end. The error never shows the value: it may hold a
// password.
func checkAPIBase(base string) error {
	const example = "such as https://dialpad.com or http://127.0.0.1:8089"
	u, err := url.Parse(base)
	switch {
	case err != nil && strings.Contains(err.Error(), "invalid port"):
		return errors.New("its port is not a number: want 1 to 65535")
	case err != nil, u.Scheme == "", u.Opaque != "":
		return fmt.Errorf("not a URL: want one %s", example)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme %s: want http or https, as in a URL %s", clip(u.Scheme, 12), example)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("no host: want a URL %s", example)
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || strings.Contains(base, "#"):
		return errors.New("want no user or password, query or fragment in it")
	case strings.HasSuffix(u.Host, ":"):
		return errors.New("its port is empty: want 1 to 65535, or no colon for the scheme's port")
	}
	return checkPort(u)
}

func listenOptionsFrom(c *cli.Context) (listenOptions, error) {
	var o listenOptions
	var err error
	if o.API, err = apiConfig(c); err != nil {
		return o, err
	}
	o.WebsocketID = dialpad.ID(c.Int64("websocket-id"))
	for _, s := range c.StringSlice("subscription") {
		ref, err := parseSubscriptionRef(flagLabel(c, "subscription"), s)
		if err != nil {
			return o, err
		}
		o.Subscriptions = append(o.Subscriptions, ref)
	}
	if o.WebsocketID == 0 && len(o.Subscriptions) == 0 && !c.Bool("create") {
		return o, errors.New("nothing to listen to: pass --websocket-id or --subscription TYPE:ID")
	}
	typedHeaders, envHeaders := headerValues(c, "header", headersEnv)
	headers, err := parseHeaders(typedHeaders)
	if err != nil {
		return o, err
	}
	fromEnv, err := parseHeaders(envHeaders)
	if err != nil {
		return o, err
	}
	// As for every flag, the command line wins over the environment:
	// a name typed replaces the variable's values of that name.
	headers = override(fromEnv, headers)
	for _, f := range []string{"content-type-json", "content-type-jwt", "user-agent"} {
		if v := c.String(f); !forward.ValidHeaderValue(v) {
			return o, fmt.Errorf("--%s %q: not a valid header value (a control character or a line break)", f, v)
		}
	}
	o.Forward = forward.Config{
		URL:             c.String("forward-to"),
		ContentTypeJSON: c.String("content-type-json"),
		ContentTypeJWT:  c.String("content-type-jwt"),
		UserAgent:       c.String("user-agent"),
		Headers:         headers,
		Timeout:         c.Duration("timeout"),
		MaxAttempts:     maxAttempts(c.Int("max-attempts")),
		RetryWaitMin:    c.Duration("retry-wait-min"),
		RetryWaitMax:    c.Duration("retry-wait-max"),
		Concurrency:     c.Int("concurrency"),
	}
	if o.Forward.TLS, err = forwardTLS(c); err != nil {
		return o, err
	}
	if !c.IsSet("retry-wait-min") && o.Forward.RetryWaitMin > o.Forward.RetryWaitMax {
		o.Forward.RetryWaitMin = o.Forward.RetryWaitMax
	}
	if o.Routes, err = routesFrom(c, o.Forward); err != nil {
		return o, err
	}
	forwardTo := flagLabel(c, "forward-to")
	for _, r := range o.Routes {
		if err := checkHandlerURL(r.Forward.URL); err != nil {
			return o, routeError(forwardTo, r, err)
		}
		// All of forward's checks, before --create makes anything.
		if err := r.Forward.Validate(); err != nil {
			return o, routeError(forwardTo, r, err)
		}
	}
	events, err := filterTypes(c.StringSlice("events"))
	if err != nil {
		return o, err
	}
	states, err := parseCallStates(c.StringSlice("call-states"))
	if err != nil {
		return o, err
	}
	if len(states) > 0 && !slices.Contains(states, "all") && len(events) > 0 && !slices.Contains(events, string(dialpad.Call)) {
		return o, fmt.Errorf("%s filters call events, but %s leaves them out: add call to --events, or drop --call-states", flagLabel(c, "call-states"), flagLabel(c, "events"))
	}
	o.Agent = agent.Config{
		Events:          events,
		CallStates:      states,
		VerifySecret:    c.String("verify-secret"),
		Concurrency:     c.Int("concurrency"),
		RotateBefore:    c.Duration("rotate-before"),
		PingInterval:    c.Duration("ping-interval"),
		PongWait:        c.Duration("pong-wait"),
		MaxConnLifetime: c.Duration("max-conn-lifetime"),
		BackoffMin:      c.Duration("reconnect-wait-min"),
		BackoffMax:      c.Duration("reconnect-wait-max"),
		DedupeWindow:    c.Duration("dedupe-window"),
		MaxFrameBytes:   c.Int64("max-frame-bytes"),
		DrainTimeout:    c.Duration("drain-timeout"),
		MaxAge:          c.Duration("max-age"),
		StatusInterval:  c.Duration("status-interval"),
	}
	stopOn, err := parseStopOnStatus(c.String("stop-on-status"))
	if err != nil {
		return o, err
	}
	o.Agent.StopOn = agent.StopOnStatuses(stopOn...)
	switch v := c.String("non-event-frames"); v {
	case "skip":
	case "keep":
		if c.Bool("no-spool") {
			return o, errors.New("--non-event-frames keep keeps frames in the spool; with --no-spool there is none")
		}
		o.Agent.KeepNonEvents = true
	case "forward":
		o.Agent.ForwardNonEvents = true
	default:
		return o, fmt.Errorf("--non-event-frames %q: want skip, keep or forward", v)
	}
	if o.Agent.StatusInterval == 0 {
		o.Agent.StatusInterval = -1 // agent.Config: negative is never
	}
	o.MetricsAddr = c.String("metrics-addr")
	o.MetricsLabel = flagLabel(c, "metrics-addr")
	o.Spool = spoolOptions{
		Path: c.String("spool"), Off: c.Bool("no-spool"),
		KeepCount: c.Int("keep-delivered"), KeepAge: c.Duration("keep-delivered-for"),
		QueueMaxBytes: int64(c.Int("queue-max-mib")) << 20,
	}
	if o.Spool.Off && o.Spool.Path != "" {
		return o, fmt.Errorf("%s and --no-spool contradict each other", flagLabel(c, "spool"))
	}
	for _, name := range []string{"keep-delivered", "keep-delivered-for"} {
		if o.Spool.Off && c.IsSet(name) {
			return o, fmt.Errorf("%s keeps delivered events in the spool; with --no-spool there is none", flagLabel(c, name))
		}
	}
	if !o.Spool.Off && c.IsSet("queue-max-mib") {
		return o, errors.New("--queue-max-mib bounds the in-memory queue of --no-spool; the spool keeps waiting events on disk")
	}
	return o, nil
}

// parseSubscriptionRef parses one --subscription value; flag names the
// flag in errors (flagLabel).
func parseSubscriptionRef(flag, s string) (subscriptionRef, error) {
	typ, id, ok := strings.Cut(s, ":")
	if !ok {
		return subscriptionRef{}, fmt.Errorf("%s %q: want TYPE:ID, e.g. call:1234", flag, s)
	}
	t, err := dialpad.ParseSubscriptionType(typ)
	if err != nil {
		return subscriptionRef{}, fmt.Errorf("%s %q: %w", flag, s, err)
	}
	n, err := dialpad.ParseID(id)
	if err != nil {
		return subscriptionRef{}, fmt.Errorf("%s %q: %w", flag, s, err)
	}
	return subscriptionRef{typ: t, id: n}, nil
}

// parseHeaders parses --header values. Its error never shows one: a
// header's value may be a secret (a bearer token), and so may what was
// typed where the name should be.
func parseHeaders(list []headerValue) (http.Header, error) {
	h := http.Header{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv.value, ":")
		k = strings.TrimSpace(k)
		if !ok || !forward.ValidHeaderName(k) {
			return nil, fmt.Errorf("%s: want 'Name: value', e.g. 'Authorization: Bearer …' %s", kv.from, notShown)
		}
		v = strings.TrimSpace(v)
		if !forward.ValidHeaderValue(v) {
			// Checked here, not by forward, which names only the flag.
			return nil, fmt.Errorf("%s: the value of %s is %w %s", kv.from, k, errHeaderValue, notShown)
		}
		h.Add(k, v)
	}
	return h, nil
}

// errHeaderValue is why a header's value is refused.
var errHeaderValue = errors.New("not a valid header value (a control character or a line break)")

// The variables that give header flags' values, one a line: a token for
// the handler typed on the command line is in the process list.
const (
	headersEnv      = "DIALPAD_TUNNEL_HEADERS"
	routeHeadersEnv = "DIALPAD_TUNNEL_ROUTE_HEADERS"
)

// headerValue is one value of a header flag, and how errors name it.
type headerValue struct{ value, from string }

// headerValues is the values of the repeatable header flag: those typed,
// and apart, the lines of its variable env, blank ones skipped (lines,
// not commas as for other lists: a header's value may hold a comma). They
// are kept apart for the caller to let a name typed replace that name's
// values from env, as a typed flag replaces its variable's value.
func headerValues(c *cli.Context, flag, env string) (typed, fromEnv []headerValue) {
	values := c.StringSlice(flag)
	for i, v := range values {
		from := "--" + flag
		if len(values) > 1 {
			from = fmt.Sprintf("--%s (the %s)", flag, ordinal(i+1))
		}
		typed = append(typed, headerValue{v, from})
	}
	for i, line := range strings.Split(os.Getenv(env), "\n") {
		if strings.TrimSpace(line) != "" {
			fromEnv = append(fromEnv, headerValue{strings.TrimSuffix(line, "\r"), fmt.Sprintf("%s (line %d)", env, i+1)})
		}
	}
	return typed, fromEnv
}

// notShown ends the error about a flag value that may hold a secret.
const notShown = "(the value is not shown: it may hold a secret)"

// ordinal is 1st, 2nd, 3rd, 4th … for n ≥ 1.
func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.Itoa(n) + suffix
}

// bindMetrics binds MetricsAddr, if given and not bound yet, for
// runListen to serve; listen --create binds it before it makes anything.
func (o *listenOptions) bindMetrics() error {
	if o.MetricsAddr == "" || o.metrics != nil {
		return nil
	}
	ms, err := metrics.Listen(o.MetricsAddr)
	if err != nil {
		return fmt.Errorf("%s %q: %w", o.MetricsLabel, o.MetricsAddr, err)
	}
	o.metrics = ms
	return nil
}

// runListen is the whole `listen` command once flags are parsed: REST
// client, forwarder, queue and agent, run until ctx is done.
func runListen(ctx context.Context, o listenOptions, log *slog.Logger) error {
	o.API.Logger = log
	warnInsecureForward(o.Forward.TLS, log)
	client, err := dialpad.New(o.API)
	if err != nil {
		return err
	}
	// Bound before anything is opened: a port in use stops listen here,
	// not after it connected.
	if err := o.bindMetrics(); err != nil {
		return err
	}
	ms := o.metrics
	if ms != nil {
		defer ms.Close()
	}
	if len(o.Routes) == 0 { // demo, bench, soak: one handler
		o.Routes = []routeOptions{{Name: "default", Forward: o.Forward}}
	}
	if o.WebsocketID != 0 {
		o.Agent.Sources = append(o.Agent.Sources, agent.WebsocketSource(client, o.WebsocketID))
	}
	for _, s := range o.Subscriptions {
		o.Agent.Sources = append(o.Agent.Sources, agent.SubscriptionSource(client, s.typ, s.id))
	}
	names := make([]string, len(o.Agent.Sources))
	for i, s := range o.Agent.Sources {
		names[i] = s.Name
	}
	if !o.Spool.Off {
		base, err := o.Spool.basePath(o.API.BaseURL, names)
		if err != nil {
			return err
		}
		// Another user's folder (a service's StateDirectory) is said to
		// be so before the routes' files are looked for in it.
		if err := spool.CheckFolder(base); err != nil {
			return listenAccess(err)
		}
		// Each route takes the file of its handler (by the URL recorded
		// beside it), not of its position among the --route flags.
		if err := placeRoutes(base, o.Routes, log); err != nil {
			return err
		}
		// Root makes no spool in a service user's folder: every file it
		// made there would be root's (spool.CheckMake). Looked at for
		// every route before any is opened, so nothing is made.
		for _, r := range o.Routes {
			if err := spool.CheckMake(routeSpoolPath(base, r.Name)); err != nil {
				return err
			}
		}
		routes := make([]string, len(o.Routes))
		for i, r := range o.Routes {
			routes[i] = r.Name
		}
		warnUnusedRouteSpools(base, routes, false, log)
		if t := unfedType(o.Routes, o.Agent.Events); t != "" {
			log.Warn("--events leaves out a type that a --route takes: no new event reaches that route, which delivers only what its spool already holds (and replays)",
				"type", t)
		}
	}
	if o.Spool.Off {
		// An earlier run's spool for these sources is not opened: say
		// what it still holds, or its events wait unseen.
		if base, err := o.Spool.basePath(o.API.BaseURL, names); err == nil {
			warnUnusedRouteSpools(base, nil, true, log)
		}
	}
	var qs queues
	defer qs.closeUnrun()
	var targets []string
	for _, r := range o.Routes {
		r.Forward.Logger = log
		fwd, err := forward.New(r.Forward)
		if err != nil {
			return routeError("--forward-to", r, err)
		}
		defer fwd.Close()
		q, err := qs.open(o.Spool, o.API.BaseURL, names, r.Name, r.Forward.URL, log)
		if err != nil {
			return err
		}
		o.Agent.Routes = append(o.Agent.Routes, agent.Route{Name: r.Name, Types: r.Types, Forwarder: fwd, Queue: q})
		targets = append(targets, r.Name+"="+redactedURL(r.Forward.URL))
	}
	o.Agent.Logger = log
	if o.createSource == nil {
		o.Agent.DownSince = qs.lastRun()
	} else {
		var base string
		if !o.Spool.Off {
			if base, err = o.Spool.basePath(o.API.BaseURL, names); err != nil {
				return err
			}
		}
		id, downSince, err := o.createSource(ctx, base, qs.lastRun())
		if err != nil {
			return err
		}
		o.Agent.DownSince = downSince
		src := agent.WebsocketSource(client, id)
		o.Agent.Sources = append(o.Agent.Sources, src)
		names = append(names, src.Name)
	}
	a, err := agent.New(o.Agent)
	if err != nil {
		return err
	}
	log.Info("starting", "version", version, "sources", strings.Join(names, ", "), "forward_to", strings.Join(targets, ", "), "spool", qs.describe())
	started, sources := time.Now(), strings.Join(names, ", ")
	disks, routes := qs.disks, qs.routes // every socket reports on all of them
	stopControl := qs.serveControl(log, func(*spool.Disk) any { return statusOf(a, disks, routes, sources, started, ctx.Err() != nil) })
	stopMetrics := serveMetrics(ctx, ms, a, o.Agent.Routes, &qs, log)
	runErr := qs.run(ctx, a.Run, a.Connected())
	stopMetrics()
	stopControl()
	qs.logLeft(log)
	st := a.Stats()
	// lost: left in memory at a --no-spool stop, or refused as too large.
	lost := st.Abandoned + st.Oversized
	attrs := []any{"received", st.Received, "delivered", st.Delivered, "failed", st.Failed,
		"duplicates_dropped", st.Duplicates, "invalid_frames", st.Invalid, "refused_signatures", st.Rejected,
		"filtered", st.Filtered, "lost", lost}
	if st.Gaps > 0 { // the status lines' count, the last window (one open at the stop) included
		attrs = append(attrs, "gaps", st.Gaps, "gap_time", st.GapTime.Round(time.Millisecond).String())
	}
	if st.DroppedUnread > 0 {
		attrs = append(attrs, "dropped_unread", st.DroppedUnread)
	}
	var we *spool.WriteError
	if errors.As(runErr, &we) {
		// An upper bound: some of them may have been delivered meanwhile.
		log.Error("the spool could not be written when listen stopped. Accepted events it could not store are lost unless they were delivered (lines above may say they were kept in the spool)",
			"reason", runErr.Error(), "unstored", we.Unstored)
		attrs = append(attrs, "unstored", we.Unstored)
	}
	gone, other := splitPathsLost(runErr)
	if len(gone) > 0 {
		n := 0
		for _, g := range gone {
			n += g.Pending + g.Dead
		}
		attrs = append(attrs, "not_at_spool_path", n)
	}
	log.Info("stopped", attrs...)
	if len(gone) > 0 {
		msgs := make([]string, len(gone))
		for i, g := range gone {
			msgs[i] = g.Error()
		}
		if other != nil {
			msgs = append(msgs, explain(other).Error())
		}
		return cli.Exit("listen stopped, but the next start will not find some events: "+strings.Join(msgs, "; "), exitLost)
	}
	if runErr != nil {
		return explain(runErr)
	}
	if lost > 0 {
		return lostError(st)
	}
	return nil
}

// exitLost is listen's exit status when it stopped as asked but lost
// events on the way, so that a script or supervisor can tell.
const exitLost = 3

// splitPathsLost takes the spools' PathLostErrors out of err (run joins
// every spool's error and the agent's), and returns them and the rest.
func splitPathsLost(err error) (gone []*spool.PathLostError, rest error) {
	var others []error
	var walk func(error)
	walk = func(err error) {
		var pl *spool.PathLostError
		switch e := err.(type) {
		case nil:
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		default:
			if errors.As(err, &pl) {
				gone = append(gone, pl)
			} else {
				others = append(others, err)
			}
		}
	}
	walk(err)
	return gone, errors.Join(others...)
}

// lostError says which events a run that otherwise stopped cleanly lost.
func lostError(st agent.Stats) error {
	var parts []string
	if st.Abandoned > 0 {
		parts = append(parts, fmt.Sprintf("%d undelivered and not kept (in memory with --no-spool, or not queued)", st.Abandoned))
	}
	if st.Oversized > 0 {
		parts = append(parts, fmt.Sprintf("%d refused as larger than --max-frame-bytes", st.Oversized))
	}
	return cli.Exit("listen stopped, but events were lost: "+strings.Join(parts, ", "), exitLost)
}

// routeError names the route of a handler URL error: forwardTo, how to
// name --forward-to (flagLabel), or the --route by its type, never by its
// URL, which may hold a secret.
func routeError(forwardTo string, r routeOptions, err error) error {
	route := "--route " + r.Name
	if len(r.Types) == 1 {
		route = "--route " + r.Types[0] + "=…"
		if r.Name != r.Types[0] {
			route += " (route " + r.Name + ")"
		}
	}
	// A header's error is said without forward's own prefix: the flag
	// names it.
	header := strings.TrimPrefix(err.Error(), forward.ErrHeaders.Error()+": ")
	switch {
	case errors.Is(err, forward.ErrHeaders) && r.Name == "default":
		return fmt.Errorf("--header: %s", header)
	case errors.Is(err, forward.ErrHeaders):
		return fmt.Errorf("%s: --header or --route-header: %s", route, header)
	case r.Name == "default":
		return fmt.Errorf("%s: %w", forwardTo, err)
	}
	return fmt.Errorf("%s: %w", route, err)
}

// setMemoryLimit asks the Go runtime to collect garbage harder as the heap
// nears mib MiB (a soft limit: it is never a reason to fail), unless the
// user set GOMEMLIMIT.
func setMemoryLimit(mib int) {
	if mib > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(mib) << 20)
	}
}

// maxFrameBytes bounds --max-frame-bytes: a frame is one event, and the
// spool's batches must stay far below its format's limit.
const maxFrameBytes = 64 << 20

// setProcs sets GOMAXPROCS to n unless the environment does; 0 leaves Go's
// default, which counts a container's CPU limit and follows it when it
// changes. All cores is the default: on the 2-core bench machine it gave
// about a quarter more burst throughput than one core and a lower p99, for
// about 5% more CPU per event (`bench --procs 1`). With one P the runtime
// hands the P to another thread whenever a system call (an fdatasync, a
// slow loopback write) outlasts its 20 µs check, and its monitor thread then
// polls every 20 µs: that churn cost more than a second P does.
func setProcs(n int) error {
	switch {
	case n < 0 || n > runtime.NumCPU():
		return fmt.Errorf("--procs %d: want %s", n, procsWant)
	case os.Getenv("GOMAXPROCS") != "":
	case n > 0:
		runtime.GOMAXPROCS(n)
	}
	return nil
}

// explain adds the fix to errors a user can act on.
func explain(err error) error {
	var api *dialpad.APIError
	if errors.As(err, &api) {
		switch api.Status {
		case http.StatusUnauthorized:
			return fmt.Errorf("%w\n  the API key was refused: check DIALPAD_API_KEY (or --api-key) and --env/--api-base", err)
		case http.StatusForbidden:
			return fmt.Errorf("%w\n  the API key may not read this websocket or subscription (scopes, company admin)", err)
		case http.StatusNotFound:
			return fmt.Errorf("%w\n  no such websocket or subscription on this account: check the id and --env/--api-base", err)
		}
	}
	return err
}
