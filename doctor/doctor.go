// Package doctor runs the preflight checks of a dialpad-tunnel setup (the
// API key and what it may do, the websocket host through the proxy, the
// forward target, the clock) and gives a fix for each failure.
package doctor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

// Status is the outcome of one Check.
type Status string

// The statuses of a Check. Only Fail makes a run fail.
const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "FAIL"
	Skip Status = "skip"
)

// Check is one line of the checklist. No field holds a secret.
type Check struct {
	Name   string
	Status Status
	Detail string
	// Fix tells the user what to do; set when Status is Fail or Warn.
	Fix string
}

// ProxyFunc picks the proxy for a request, as http.ProxyFromEnvironment.
type ProxyFunc func(*http.Request) (*url.URL, error)

// Config configures Run.
type Config struct {
	// Client talks to Dialpad; required.
	Client *dialpad.Client
	// APIBase is shown in the API key check.
	APIBase string
	// WebsocketID is the websocket whose URL is checked; 0 means the first
	// one listed.
	WebsocketID dialpad.ID
	// WebsocketIDFrom names where WebsocketID came from, for the fix of a
	// websocket that cannot be read; default "--websocket-id".
	WebsocketIDFrom string
	// ForwardTo is the handler URL to check; "" skips the check.
	ForwardTo string
	// ForwardTLS is the TLS configuration listen's POSTs use (--forward-ca
	// and the rest); nil: the system's authorities.
	ForwardTLS *tls.Config
	// APIFlags are the --env and --api-base flags (never the key) that the
	// commands a fix gives carry, so that they act on the API checked.
	APIFlags []string
	// Proxy picks the proxy for the websocket host and the handler; default
	// http.ProxyFromEnvironment.
	Proxy ProxyFunc
	// Timeout bounds each network check; default 10s.
	Timeout time.Duration
	// MaxSkew is the largest accepted difference between the local clock
	// and the token's iat; default 1m.
	MaxSkew time.Duration
	// Now is the local clock; default time.Now.
	Now func() time.Time
}

// Run performs every check in order and returns the checklist. Checks that
// depend on a failed one are skipped.
func Run(ctx context.Context, cfg Config) ([]Check, error) {
	if cfg.Client == nil {
		return nil, errors.New("doctor: config: Client is required")
	}
	if cfg.Proxy == nil {
		cfg.Proxy = http.ProxyFromEnvironment
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var out []Check
	key, websockets := checkKey(ctx, cfg)
	out = append(out, key)
	if key.Status == Fail {
		for _, name := range []string{"subscription types", "websocket host", "clock", "events for the websocket"} {
			out = append(out, Check{Name: name, Status: Skip, Detail: "needs a working API key"})
		}
	} else {
		types, subs, complete := checkTypes(ctx, cfg)
		out = append(out, types...)
		out = append(out, checkWebsocket(ctx, cfg, websockets)...)
		out = append(out, checkFed(cfg, websockets, subs, complete))
	}
	return append(out, checkForward(ctx, cfg)), nil
}

// checkKey lists the websockets: the cheapest call that proves the key.
func checkKey(ctx context.Context, cfg Config) (Check, []dialpad.Websocket) {
	c := Check{Name: "API key"}
	all, err := cfg.Client.ListWebsockets(ctx)
	if err == nil {
		c.Status, c.Detail = OK, fmt.Sprintf("accepted by %s (%d websockets)", cfg.APIBase, len(all))
		return c, all
	}
	c.Status, c.Detail = Fail, err.Error()
	var api *dialpad.APIError
	switch {
	case errors.As(err, &api) && api.Status == http.StatusUnauthorized:
		c.Fix = "set DIALPAD_API_KEY (or --api-key) to a valid key; sandbox and production keys differ, so check --env"
	case errors.As(err, &api) && api.Status == http.StatusForbidden:
		c.Fix = "the key may not manage websockets: create an API key with the needed scopes"
	case errors.As(err, &api) && api.Status == http.StatusTooManyRequests:
		c.Fix = "the company is over its rate limit (20 requests/s): try again in a minute"
	case errors.As(err, &api):
		c.Fix = "check --env / --api-base"
	default:
		c.Fix = "check --env / --api-base, the network and HTTPS_PROXY"
	}
	return c, nil
}

// adminNeed returns what a key needs to create subscriptions of an
// admin-only type, "" for the other types.
func adminNeed(typ dialpad.SubscriptionType) string {
	switch typ {
	case dialpad.AgentStatus, dialpad.Contact:
		return "a company-admin API key"
	case dialpad.Changelog:
		return "a company-admin API key with the change_log scope"
	}
	return ""
}

// checkTypes lists each subscription type to see which ones the key may
// use; it returns the subscriptions listed, and whether every type was.
func checkTypes(ctx context.Context, cfg Config) (out []Check, listed map[dialpad.SubscriptionType][]dialpad.Subscription, complete bool) {
	listed, complete = make(map[dialpad.SubscriptionType][]dialpad.Subscription), true
	for _, typ := range dialpad.SubscriptionTypes() {
		c := Check{Name: string(typ) + " subscriptions"}
		subs, err := cfg.Client.ListSubscriptions(ctx, typ)
		if err == nil {
			listed[typ] = subs
		} else {
			complete = false
		}
		need := adminNeed(typ)
		admin := need != ""
		switch {
		case err == nil && admin:
			c.Status, c.Detail = OK, fmt.Sprintf("may list (%d); creating needs %s", len(subs), need)
		case err == nil:
			c.Status, c.Detail = OK, fmt.Sprintf("may list (%d) and create", len(subs))
		case dialpad.IsPermanent(err) && admin:
			c.Status, c.Detail, c.Fix = Warn, err.Error(), "only if you need these events: use "+need
		default:
			c.Status, c.Detail, c.Fix = Fail, err.Error(), "give the API key access to "+string(typ)+" events (scopes; message_content_export for SMS text)"
		}
		out = append(out, c)
	}
	return out, listed, complete
}

// command is a dialpad-tunnel command line for a fix, with cfg.APIFlags.
func (cfg Config) command(words ...string) string {
	return "`" + strings.Join(append(append([]string{"dialpad-tunnel"}, words...), cfg.APIFlags...), " ") + "`"
}

// checkFed counts the subscriptions that send their events to the
// websocket listen uses: with none, listen connects and receives nothing,
// and every other check passed.
func checkFed(cfg Config, websockets []dialpad.Websocket, listed map[dialpad.SubscriptionType][]dialpad.Subscription, complete bool) Check {
	c := Check{Name: "events for the websocket"}
	id := cfg.WebsocketID
	if id == 0 && len(websockets) > 0 {
		id = websockets[0].ID
	}
	if id == 0 {
		c.Status, c.Detail = Skip, "no websocket on this account yet"
		return c
	}
	if !slices.ContainsFunc(websockets, func(ws dialpad.Websocket) bool { return ws.ID == id }) {
		// A subscription for it could not be made: its create answers 404.
		c.Status, c.Detail = Skip, fmt.Sprintf("websocket %s is not on this account", id)
		return c
	}
	var fed, enable []string
	for _, typ := range dialpad.SubscriptionTypes() {
		n := 0
		for _, s := range listed[typ] {
			switch {
			case s.EndpointID() != id:
			case s.Enabled:
				n++
			default: // a disabled one: enabling it beats making a second
				enable = append(enable, cfg.command("subscriptions", "update", "--type", string(typ), "--enabled", s.ID.String()))
			}
		}
		if n > 0 {
			fed = append(fed, fmt.Sprintf("%s %d", typ, n))
		}
	}
	switch {
	case len(fed) > 0:
		c.Status, c.Detail = OK, fmt.Sprintf("websocket %s gets the events of enabled subscriptions: %s", id, strings.Join(fed, ", "))
	case complete && len(enable) > 0:
		c.Status, c.Detail = Warn, fmt.Sprintf("no enabled subscription sends its events to websocket %s: listen connects and receives nothing", id)
		c.Fix = fmt.Sprintf("enable the disabled one(s) on it: %s", strings.Join(enable, ", "))
	case complete:
		c.Status, c.Detail = Warn, fmt.Sprintf("no enabled subscription sends its events to websocket %s: listen connects and receives nothing", id)
		c.Fix = fmt.Sprintf("create one: %s (or a setup file), or enable one", cfg.command("subscriptions", "create", "--type", "call", "--endpoint-id", id.String()))
	default:
		c.Status, c.Detail = Warn, fmt.Sprintf("no enabled subscription of the types this key may list sends its events to websocket %s", id)
		c.Fix = "if the others do not either, listen receives nothing: check with a key that may list them"
	}
	return c
}
