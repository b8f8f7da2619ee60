package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/dialpad-tunnel/dialpad-tunnel/console"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
	"github.com/urfave/cli/v2"
)

// outputFlags choose how the resource commands print.
func outputFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "json", Usage: "print JSON instead of a table (secrets and URL tokens redacted)"},
		&cli.BoolFlag{Name: "show-secrets", Usage: "include signing secrets (with --json), websocket URL tokens (with --json) and the passwords and queries of hook URLs"},
	}
}

// redactedURL is a handler or hook URL for output and logs: without a
// password, a query or path parameters, any of which may carry a token.
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid url>"
	}
	return forward.RedactURL(u)
}

// redactedHookURL is a webhook's hook_url for output: as redactedURL, and
// its path shown only up to the first segment that is not a plain word
// (letters, '-', '_', '.'; at most maxWordSegment long), as "/xxxxx": a
// hook URL often carries its token in the path
// (hooks.slack.com/services/T…/B…/<token>, hooks.zapier.com/hooks/catch/…).
func redactedHookURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid url>"
	}
	segs := strings.Split(u.EscapedPath(), "/")
	for i, seg := range segs {
		if !wordSegment(seg) {
			u.Path, u.RawPath = strings.Join(segs[:i], "/")+"/xxxxx", ""
			break
		}
	}
	return forward.RedactURL(u)
}

// maxWordSegment is the longest path segment of a hook URL shown.
const maxWordSegment = 20

// wordSegment reports whether a path segment reads as a word, not an id or a
// token: letters, '-', '_' and '.', at most maxWordSegment of them ("" is
// one: the path's start).
func wordSegment(seg string) bool {
	if len(seg) > maxWordSegment {
		return false
	}
	for _, r := range seg {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// redacted replaces a secret in JSON output.
const redacted = "<redacted>"

func redactSignature(s *dialpad.Signature, show bool) *dialpad.Signature {
	if s == nil || show {
		return s
	}
	cp := *s
	cp.Secret = redacted
	return &cp
}

func redactWebsocket(w dialpad.Websocket, show bool) dialpad.Websocket {
	if !show {
		w.URL = dialpad.RedactURL(w.URL)
	}
	w.Signature = redactSignature(w.Signature, show)
	return w
}

func redactWebhook(w dialpad.Webhook, show bool) dialpad.Webhook {
	if !show {
		w.HookURL = redactedHookURL(w.HookURL)
	}
	w.Signature = redactSignature(w.Signature, show)
	return w
}

// typedSubscription is a subscription with its type, as printed by --json.
type typedSubscription struct {
	Type dialpad.SubscriptionType `json:"type"`
	dialpad.Subscription
}

func redactSubscription(typ dialpad.SubscriptionType, s dialpad.Subscription, show bool) typedSubscription {
	if s.Websocket != nil {
		s.Websocket = new(redactWebsocket(*s.Websocket, show))
	}
	if s.Webhook != nil {
		s.Webhook = new(redactWebhook(*s.Webhook, show))
	}
	return typedSubscription{Type: typ, Subscription: s}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints rows under a header, aligned.
func table(w io.Writer, header string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ReplaceAll(header, " ", "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func signed(s *dialpad.Signature) string {
	if s == nil || s.Secret == "" {
		return "no"
	}
	return "yes"
}

// subscriptionOptionsText summarises the type-specific fields of s.
func subscriptionOptionsText(typ dialpad.SubscriptionType, s dialpad.Subscription) string {
	var parts []string
	switch typ {
	case dialpad.Call:
		parts = append(parts, "call_states="+strings.Join(s.CallStates, ","))
		if s.GroupCallsOnly {
			parts = append(parts, "group_calls_only")
		}
	case dialpad.SMS:
		parts = append(parts, "direction="+s.Direction)
		if s.IncludeInternal {
			parts = append(parts, "include_internal")
		}
		if s.Status {
			parts = append(parts, "delivery_status")
		}
	case dialpad.AgentStatus:
		parts = append(parts, "agent_type="+s.AgentType)
	case dialpad.Contact:
		parts = append(parts, "contact_type="+s.ContactType)
	}
	if s.TargetID != 0 {
		parts = append(parts, "target="+s.TargetType+":"+s.TargetID.String())
	}
	return strings.Join(parts, " ")
}

func endpointText(s dialpad.Subscription) string {
	if e := s.Endpoint(); e != "" {
		return e
	}
	return "-"
}

// withFix adds what to do to the Dialpad errors a user can act on. The
// error already names the operation and carries Dialpad's error.message.
func withFix(err error) error {
	var api *dialpad.APIError
	if !errors.As(err, &api) {
		return err
	}
	switch api.Status {
	case http.StatusUnauthorized:
		return fmt.Errorf("%w\n  the API key was refused: check DIALPAD_API_KEY (or --api-key) and --env/--api-base", err)
	case http.StatusForbidden:
		return fmt.Errorf("%w\n  the API key may not do this: agent_status, contact and changelog need a company-admin key; check the key's scopes", err)
	case http.StatusNotFound:
		return fmt.Errorf("%w\n  no such object on this account: check the id (for a subscription, its type too) and --env/--api-base", err)
	case http.StatusTooManyRequests:
		return fmt.Errorf("%w\n  rate limited by Dialpad: wait a minute and try again (creating requests are never retried automatically)", err)
	}
	return err
}

// idArg parses the one ID argument of a command.
func idArg(c *cli.Context) (dialpad.ID, error) {
	if c.NArg() != 1 {
		return 0, fmt.Errorf("%s: want one ID argument", commandPath(c))
	}
	return dialpad.ParseID(c.Args().First())
}

// newClient builds the REST client from the API flags. Its retries are
// warnings on the command's error output, as listen's are in its log: a
// command waiting out a 429 or a 5xx says so rather than hang silently.
func newClient(c *cli.Context) (*dialpad.Client, dialpad.Config, error) {
	cfg, err := apiConfig(c)
	if err != nil {
		return nil, cfg, err
	}
	cfg.Logger = slog.New(console.NewHandler(c.App.ErrWriter, slog.LevelWarn))
	client, err := dialpad.New(cfg)
	return client, cfg, err
}

// commandPath is the words naming c's command, as typed after the program
// name: "websockets get".
func commandPath(c *cli.Context) string {
	var words []string
	for _, ctx := range c.Lineage() {
		if ctx.Command != nil && ctx.Command.Name != "" && ctx.Command.Name != ctx.App.Name {
			words = append([]string{ctx.Command.Name}, words...)
		}
	}
	return strings.Join(words, " ")
}
