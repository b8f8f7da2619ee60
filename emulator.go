package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"slices"
	"strings"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/console"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
	"github.com/urfave/cli/v2"
)

func emulatorCommand() *cli.Command {
	return &cli.Command{
		Name:  "emulator",
		Usage: "run a local fake Dialpad (REST API + websocket) to develop a handler against",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8089", Usage: "listen address"},
			&cli.StringFlag{Name: "api-key", Usage: "API key the emulator accepts (default: a random test key, printed)", EnvVars: []string{"DIALPAD_EMULATOR_API_KEY"}},
			&cli.StringFlag{Name: "secret", Usage: "secret of the websocket it creates: events become HS256 JWTs"},
			&cli.DurationFlag{Name: "token-ttl", Value: time.Hour, Usage: "lifetime of websocket tokens (Dialpad: 1h)"},
		}, logFlags()...),
		Action: func(c *cli.Context) error {
			if err := checkNotEmpty(c, emulatorNotEmpty...); err != nil {
				return err
			}
			if ttl := c.Duration("token-ttl"); ttl < 100*time.Millisecond {
				return fmt.Errorf("--token-ttl %s: want 100ms or more (Dialpad's is 1h)", ttl)
			}
			log, out, err := newLogger(c, c.App.ErrWriter)
			if err != nil {
				return err
			}
			defer closeLog(out, nil) // the log output is stderr
			srv, err := dialpadtest.NewServer(dialpadtest.Config{
				Addr: c.String("addr"), APIKey: c.String("api-key"), TokenTTL: c.Duration("token-ttl"), Logger: log,
			})
			// An address in use or malformed is named by its flag, as
			// listen's --metrics-addr is.
			if opErr := (*net.OpError)(nil); errors.As(err, &opErr) {
				return fmt.Errorf("--addr %q: %w", c.String("addr"), opErr)
			}
			if err != nil {
				return err
			}
			defer srv.Close()
			if beyondLoopback(srv.URL()) {
				log.Warn("the emulator can be reached from other machines: its API key and events travel as plain HTTP, and whoever has the key can publish events (signed with --secret); for development, bind 127.0.0.1",
					"url", srv.URL())
			}
			wsID, err := srv.AddWebsocketForAll(c.String("secret"))
			if err != nil {
				return err
			}
			w := c.App.Writer
			// Whether events are signed: a handler verifying
			// DIALPAD_SECRET refuses plain JSON, and only its own output
			// said why.
			events := "plain JSON (no --secret: a handler that verifies DIALPAD_SECRET refuses them)"
			if c.String("secret") != "" {
				events = "HS256 JWTs signed with --secret (the handler's DIALPAD_SECRET)"
			}
			fmt.Fprintf(w, "Dialpad emulator running\n  API base      %s\n  API key       %s   (a test key, valid only here)\n  websocket id  %d (subscribed to call, sms, agent_status, contact, changelog)\n  events        %s\n\n", srv.URL(), srv.APIKey(), wsID, events)
			// The commands are pasted into a shell: a key chosen with
			// --api-key may hold a space or a quote. The key goes in the
			// variable listen and trigger read, not after --api-key: a
			// command's arguments are in the process list for every user.
			base, key := console.ShellWord(srv.URL()), console.ShellWord(srv.APIKey())
			fmt.Fprintf(w, "listen:   DIALPAD_API_KEY=%s dialpad-tunnel listen --api-base %s --websocket-id %d --forward-to http://127.0.0.1:3000/webhooks\n", key, base, wsID)
			fmt.Fprintf(w, "trigger:  DIALPAD_API_KEY=%s dialpad-tunnel trigger --api-base %s call\n", key, base)
			// Or once for the shell: then doctor, events, --create and
			// the resource commands talk to the emulator too.
			fmt.Fprintf(w, "or:       export DIALPAD_API_BASE=%s DIALPAD_API_KEY=%s   (then every command talks to the emulator, without --api-base and --api-key)\n\nCtrl-C stops it.\n", base, key)
			<-c.Context.Done()
			return nil
		},
	}
}

func triggerCommand() *cli.Command {
	return &cli.Command{
		Name:      "trigger",
		Usage:     "make the emulator send realistic events: call (a whole call lifecycle), sms, agent_status, contact, changelog",
		ArgsUsage: "TYPE [TYPE…]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "api-base", Value: "http://127.0.0.1:8089", Usage: "the emulator's API base", EnvVars: []string{"DIALPAD_API_BASE"}},
			&cli.StringFlag{Name: "api-key", Usage: "the emulator's API key (printed when it starts)", EnvVars: []string{"DIALPAD_API_KEY"}},
			&cli.IntFlag{Name: "count", Value: 1, Usage: "how many times to trigger each TYPE"},
		},
		Action: func(c *cli.Context) error {
			types := c.Args().Slice()
			if err := checkTriggerArgs(types, c.Int("count")); err != nil {
				return err
			}
			client := &http.Client{Timeout: 10 * time.Second}
			// Events nobody received are named once, after every
			// trigger (and before an error that stopped them), not
			// under each "triggered" line.
			var missed unreceived
			defer func() { missed.say(c.App.Writer) }()
			for _, typ := range types {
				for range c.Int("count") {
					if err := trigger(c, client, typ, &missed); err != nil {
						return err
					}
				}
			}
			return nil
		},
	}
}

// checkTriggerArgs rejects, before anything is sent, what trigger's
// arguments cannot mean: a type that looks like a flag (one after "--";
// arrangeArgs refuses the others), no type, an unknown type, or a count
// below 1.
func checkTriggerArgs(types []string, count int) error {
	for _, a := range types {
		if len(a) > 1 && a[0] == '-' {
			name, _, _ := strings.Cut(a, "=") // never echo a value: it may be the API key
			return fmt.Errorf("trigger: %s is not an event type (see dialpad-tunnel trigger --help)", console.Safe(clip(name, 40)))
		}
	}
	valid := strings.Join(dialpadtest.EventTypes(), ", ")
	if len(types) == 0 {
		return fmt.Errorf("trigger: name an event type: %s", valid)
	}
	for _, typ := range types {
		if !slices.Contains(dialpadtest.EventTypes(), typ) {
			return fmt.Errorf("trigger: unknown event type %q (want one of %s)", clip(typ, 40), valid)
		}
	}
	if count < 1 {
		return fmt.Errorf("trigger: --count must be at least 1, got %d", count)
	}
	return nil
}

// trigger asks the emulator to publish one typ event (a call: its whole
// lifecycle), says what it published, and adds to missed what nobody
// received.
func trigger(c *cli.Context, client *http.Client, typ string, missed *unreceived) error {
	// The base may carry a password or a query: errors show it redacted,
	// and the path goes before the query, which is kept.
	base, err := neturl.Parse(c.String("api-base"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("trigger: %s is not an http URL such as http://127.0.0.1:8089", flagLabel(c, "api-base"))
	}
	if err := checkPort(base); err != nil {
		return fmt.Errorf("trigger: %s: %w", flagLabel(c, "api-base"), err)
	}
	shown := forward.RedactURL(base)
	u := base.JoinPath("dialpadtest", "trigger", typ)
	u.Fragment = ""
	req, err := http.NewRequestWithContext(c.Context, http.MethodPost, u.String(), bytes.NewReader(nil))
	if err != nil {
		return fmt.Errorf("trigger %s: %s: %w", typ, shown, unwrapURLError(err))
	}
	req.Header.Set("Authorization", "Bearer "+c.String("api-key"))
	resp, err := client.Do(req)
	if err != nil {
		if c.Context.Err() != nil { // stopped by a signal: not the emulator's doing
			return fmt.Errorf("trigger %s: stopped before %s answered: %w", typ, shown, context.Cause(c.Context))
		}
		// Connected, then no answer: the emulator answers once every
		// webhook POST has ended, which a hook_url may hold up.
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("trigger %s: no answer from %s within %s: the emulator answers once it has POSTed every event to each webhook subscribed, waiting up to %s for each: does a webhook's hook_url not answer? (the events go out all the same)",
				typ, shown, client.Timeout, dialpadtest.WebhookTimeout)
		}
		return fmt.Errorf("trigger %s: is the emulator running at %s? %w", typ, shown, unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("trigger %s: %s: %s", typ, resp.Status, strings.TrimSpace(string(body)))
	}
	var out struct {
		Events, Frames, Webhooks int
		WebhookErrors            int  `json:"webhook_errors"`
		Subscriptions            *int `json:"subscriptions"` // nil from an older emulator
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("trigger %s: unexpected answer: %w", typ, err)
	}
	fmt.Fprintf(c.App.Writer, "triggered %s: %d event(s), %d websocket frame(s), %d webhook POST(s)\n", typ, out.Events, out.Frames, out.Webhooks)
	if out.WebhookErrors > 0 {
		fmt.Fprintf(c.App.Writer, "  %d webhook POST(s) failed: a webhook's hook_url gave no 2xx answer within %s (the emulator logs why with --log-level debug)\n", out.WebhookErrors, dialpadtest.WebhookTimeout)
	}
	if out.Frames == 0 && out.Webhooks == 0 && out.WebhookErrors == 0 {
		missed.add(typ, out.Events, out.Subscriptions != nil && *out.Subscriptions == 0)
	}
	return nil
}

// unwrapURLError is err without net/url's wrapper, whose text repeats the
// whole URL (password and query included).
func unwrapURLError(err error) error {
	var ue *neturl.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// beyondLoopback reports whether a server at base (http://HOST:PORT) can
// be reached from another machine: its host is not a loopback address.
func beyondLoopback(base string) bool {
	u, err := neturl.Parse(base)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}
