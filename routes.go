package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
	"github.com/urfave/cli/v2"
)

// routeFlags choose handlers by event type, filter events and set how
// their signatures are checked and made.
func routeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "route", Usage: "TYPE=URL: deliver events of TYPE (call, sms, agent_status, contact, changelog) to URL instead of --forward-to; repeatable, several URLs for one type each get every event"},
		&cli.StringSliceFlag{Name: "route-header", Usage: "TYPE=Name: value: extra header for the routes of TYPE; repeatable; also, one a line, from $DIALPAD_TUNNEL_ROUTE_HEADERS"},
		&cli.StringFlag{Name: "verify-secret", Usage: "websocket secret: frames must be HS256 JWTs signed with it, others are dead letters and never forwarded (never printed)", EnvVars: []string{"DIALPAD_VERIFY_SECRET"}},
		&cli.StringFlag{Name: "sign-secret", Usage: "re-sign every event as an HS256 JWT with this secret (payload = the exact event bytes) for handlers that expect another secret (never printed)", EnvVars: []string{"DIALPAD_SIGN_SECRET"}},
		&cli.StringFlag{Name: "standard-webhooks-secret", Usage: "whsec_… secret: add Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature) to every POST (never printed)", EnvVars: []string{"DIALPAD_STANDARD_WEBHOOKS_SECRET"}},
	}
}

// secretFlags are the secret flags of routeFlags, each with what leaving
// it out means.
var secretFlags = []struct{ flag, env, without string }{
	{"verify-secret", "DIALPAD_VERIFY_SECRET", "to verify no signature"},
	{"sign-secret", "DIALPAD_SIGN_SECRET", "to re-sign nothing"},
	{"standard-webhooks-secret", "DIALPAD_STANDARD_WEBHOOKS_SECRET", "to add no Standard Webhooks headers"},
}

// checkSecrets refuses a secret flag that is set but empty (--verify-secret=
// or an empty DIALPAD_VERIFY_SECRET): taken for "none", it would silently
// turn verification or signing off. The value is never shown.
func checkSecrets(c *cli.Context) error {
	for _, s := range secretFlags {
		if c.IsSet(s.flag) && c.String(s.flag) == "" {
			return fmt.Errorf("--%s is empty (given as --%s= or by an empty %s): give the secret, or leave both out %s",
				s.flag, s.flag, s.env, s.without)
		}
		// Dialpad's secrets are single-line: one read from a file with its
		// newline would refuse every event (--verify-secret) or sign with
		// a key no handler has (--sign-secret). A whsec_ secret is one
		// line of base64 too: with a newline a padded one was refused as
		// "not base64", an unpadded one taken without a word.
		if strings.ContainsAny(c.String(s.flag), "\r\n") {
			return fmt.Errorf("%s has a line break in it (copied with its newline?): remove it; the secret is not shown", flagLabel(c, s.flag))
		}
	}
	return nil
}

// routeOptions is one handler: the default (--forward-to) or a --route.
type routeOptions struct {
	Name    string
	Types   []string // empty for the default route
	Forward forward.Config
}

// routesFrom builds the routes from --forward-to, --route and
// --route-header on top of the shared forward settings in base.
func routesFrom(c *cli.Context, base forward.Config) ([]routeOptions, error) {
	if s := c.String("standard-webhooks-secret"); s != "" {
		k, err := signing.ParseStandardSecret(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flagLabel(c, "standard-webhooks-secret"), err)
		}
		base.Standard = &k
	}
	base.SignSecret = c.String("sign-secret")
	typedRH, envRH := headerValues(c, "route-header", routeHeadersEnv)
	routeHeaders, err := parseRouteHeaders(typedRH)
	if err != nil {
		return nil, err
	}
	fromEnv, err := parseRouteHeaders(envRH)
	if err != nil {
		return nil, err
	}
	// As for --header: for a type, a name typed replaces that name's
	// values from the variable.
	for typ, h := range fromEnv {
		routeHeaders[typ] = override(h, routeHeaders[typ])
	}
	var routes []routeOptions
	if base.URL != "" {
		routes = append(routes, routeOptions{Name: "default", Forward: base})
	}
	count := map[string]int{}
	seen := map[[2]string]string{} // type and URL: the route that has them
	for _, kv := range c.StringSlice("route") {
		// The URL may hold a password or a token: errors show the type only.
		typ, url, ok := strings.Cut(kv, "=")
		if !ok || url == "" {
			return nil, fmt.Errorf("--route: want TYPE=URL, e.g. call=http://localhost:3000/calls %s", notShown)
		}
		t, err := dialpad.ParseSubscriptionType(typ)
		if err != nil {
			return nil, typeError("--route", typ, err)
		}
		count[string(t)]++
		name := string(t)
		if n := count[string(t)]; n > 1 {
			name = fmt.Sprintf("%s-%d", t, n)
		}
		// Each route of a type gets every event: the same URL twice would
		// get each one twice, with the same delivery id.
		same := [2]string{string(t), sameURL(url)}
		if first, dup := seen[same]; dup {
			return nil, fmt.Errorf("--route %s=… is given twice with the same URL (routes %s and %s): its handler would get every %s event twice; give it once %s", t, first, name, t, notShown)
		}
		seen[same] = name
		fc := base
		fc.URL = url
		fc.Headers = override(base.Headers, routeHeaders[string(t)])
		routes = append(routes, routeOptions{Name: name, Types: []string{string(t)}, Forward: fc})
	}
	for typ := range routeHeaders {
		if count[typ] == 0 {
			return nil, fmt.Errorf("--route-header for %s, but no --route %s=URL", typ, typ)
		}
	}
	if len(routes) == 0 {
		return nil, errors.New("no target: pass --forward-to URL of your webhook handler (or --route TYPE=URL)")
	}
	events, err := filterTypes(c.StringSlice("events"))
	if err != nil {
		return nil, err
	}
	if t := unfedType(routes, events); t != "" && c.Bool("no-spool") {
		// With a spool such a route still delivers what its spool holds
		// (listen warns); without one it would never get an event.
		return nil, fmt.Errorf("--route %s=… but --events leaves %s out, and without a spool its handler would never get an event: add %s to --events, or drop the route", t, t, t)
	}
	if base.URL == "" {
		// No default handler: every event type that is not filtered out
		// must have a route, or its events would go nowhere.
		if len(events) == 0 {
			return nil, errors.New("--route without --forward-to: events of the other types would go nowhere; add --forward-to, or --events with only routed types")
		}
		for _, t := range events {
			if count[t] == 0 {
				return nil, fmt.Errorf("--events %s has no --route %s=URL and there is no --forward-to", t, t)
			}
		}
	}
	return routes, nil
}

// unfedType is the first type a route takes that the --events filter
// (events; empty: all) leaves out, or "": no new event reaches that route.
func unfedType(routes []routeOptions, events []string) string {
	if len(events) == 0 {
		return ""
	}
	for _, r := range routes {
		for _, t := range r.Types {
			if !slices.Contains(events, t) {
				return t
			}
		}
	}
	return ""
}

// sameURL is raw as compared for a duplicate --route: its scheme and host
// in lower case, as they are read (HTTP://Host:3000/x is http://host:3000/x),
// without the scheme's default port (http://host:80/x is http://host/x).
func sameURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if p := u.Port(); (u.Scheme == "http" && p == "80") || (u.Scheme == "https" && p == "443") {
		u.Host = strings.TrimSuffix(u.Host, ":"+p)
	}
	return u.String()
}

// parseRouteHeaders parses --route-header values, TYPE=Name: value, into
// the headers of each type, keyed by the type as --route is (CALL, Sms
// and agent-status name it too). Its errors show the type only: the
// header's value may be a secret.
func parseRouteHeaders(list []headerValue) (map[string]http.Header, error) {
	out := map[string]http.Header{}
	for _, rh := range list {
		typ, header, ok := strings.Cut(rh.value, "=")
		if !ok {
			return nil, fmt.Errorf("%s: want TYPE=Name: value, e.g. call=Authorization: Bearer … %s", rh.from, notShown)
		}
		t, err := dialpad.ParseSubscriptionType(typ)
		if err != nil {
			return nil, typeError(rh.from, typ, err)
		}
		h, err := parseHeaders([]headerValue{{header, rh.from}})
		if errors.Is(err, errHeaderValue) {
			return nil, err // the form was right: say what is wrong
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s=…: want TYPE=Name: value %s", rh.from, typ, notShown)
		}
		out[string(t)] = merge(out[string(t)], h)
	}
	return out, nil
}

// override returns a new header with a's values, but b's for each name b
// has: a --route-header replaces a --header of the same name for its
// routes (a route's own Authorization, not the shared one sent first and
// the route's second, which a handler reading the first never sees).
func override(a, b http.Header) http.Header {
	out := a.Clone()
	if out == nil {
		out = http.Header{}
	}
	for k, vs := range b {
		out[k] = slices.Clone(vs)
	}
	return out
}

// merge returns a new header with a's values then b's.
func merge(a, b http.Header) http.Header {
	out := a.Clone()
	if out == nil {
		out = http.Header{}
	}
	for k, vs := range b {
		out[k] = append(out[k], vs...)
	}
	return out
}

// filterTypes parses --events as a filter; none, or "all" among them,
// is every type (nil).
func filterTypes(list []string) ([]string, error) {
	var out []string
	all := false
	for _, item := range list {
		for _, s := range strings.Split(item, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			if isAll(s) {
				all = true
				continue
			}
			t, err := dialpad.ParseSubscriptionType(s)
			if err != nil {
				return nil, fmt.Errorf("--events: %w", err)
			}
			out = append(out, string(t))
		}
	}
	if all {
		return nil, nil
	}
	return out, nil
}

// splitList turns repeated and comma-separated flag values into one list.
func splitList(list []string) []string {
	var out []string
	for _, item := range list {
		for _, s := range strings.Split(item, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// typeError is the error of a flag whose TYPE= part is not an event type.
// It shows what was typed only when that is a plain word (a mistyped type);
// anything else may be a secret that lost its "TYPE=" (a header, a URL).
func typeError(flag, typ string, err error) error {
	if plainWord(typ) {
		return fmt.Errorf("%s %s=…: %w", flag, typ, err)
	}
	names := make([]string, 0, 5)
	for _, t := range dialpad.SubscriptionTypes() {
		names = append(names, string(t))
	}
	return fmt.Errorf("%s: the part before the first '=' is not an event type (want one of %s) %s", flag, strings.Join(names, ", "), notShown)
}

// plainWord reports whether s looks like a mistyped event type: a short
// word of letters, '_' and '-', all in one case. A token of mixed-case
// letters is not quoted.
func plainWord(s string) bool {
	if s == "" || len(s) > 16 || (s != strings.ToLower(s) && s != strings.ToUpper(s)) {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
