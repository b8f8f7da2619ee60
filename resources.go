package main

import (
	"fmt"
	"strings"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/urfave/cli/v2"
)

// resourceAction is a resource command's body, given the REST client.
type resourceAction func(c *cli.Context, client *dialpad.Client) error

// resourceCommand wraps action with the API and output flags and error fixes.
func resourceCommand(name, usage, argsUsage string, flags []cli.Flag, action resourceAction) *cli.Command {
	all := append(append(append([]cli.Flag{}, flags...), outputFlags()...), apiFlags()...)
	return &cli.Command{
		Name: name, Usage: usage, ArgsUsage: argsUsage, Flags: all,
		Action: func(c *cli.Context) error {
			client, _, err := newClient(c)
			if err != nil {
				return err
			}
			return withFix(action(c, client))
		},
	}
}

func websocketsCommand() *cli.Command {
	secret := &cli.StringFlag{Name: "secret", Usage: "signing secret: events arrive as HS256 JWTs (never printed)", EnvVars: []string{"DIALPAD_WEBSOCKET_SECRET"}}
	one := func(c *cli.Context, ws dialpad.Websocket, err error) error {
		if err != nil {
			return err
		}
		return printWebsockets(c, []dialpad.Websocket{ws})
	}
	return &cli.Command{
		Name:  "websockets",
		Usage: "list, get, create, update or delete Dialpad websocket endpoints",
		Subcommands: []*cli.Command{
			resourceCommand("list", "list every websocket (all pages)", "", nil, func(c *cli.Context, cl *dialpad.Client) error {
				all, err := cl.ListWebsockets(c.Context)
				if err != nil {
					return err
				}
				return printWebsockets(c, all)
			}),
			resourceCommand("get", "show one websocket (Dialpad issues a fresh URL)", "ID", nil, func(c *cli.Context, cl *dialpad.Client) error {
				id, err := idArg(c)
				if err != nil {
					return err
				}
				ws, err := cl.Websocket(c.Context, id)
				return one(c, ws, err)
			}),
			resourceCommand("create", "create a websocket (never retried)", "", []cli.Flag{secret}, func(c *cli.Context, cl *dialpad.Client) error {
				if err := checkWebsocketSecret(c); err != nil {
					return err
				}
				ws, err := cl.CreateWebsocket(c.Context, c.String("secret"))
				return one(c, ws, createdMaybe(c, err, "websockets", "list"))
			}),
			resourceCommand("update", "replace a websocket's secret (--secret '' removes it)", "ID", []cli.Flag{secret}, func(c *cli.Context, cl *dialpad.Client) error {
				id, err := idArg(c)
				if err != nil {
					return err
				}
				if !c.IsSet("secret") {
					return fmt.Errorf("websockets update: pass --secret (or set DIALPAD_WEBSOCKET_SECRET); --secret '' removes the signature")
				}
				// Only a typed --secret '' removes it: an empty variable is
				// more likely one left unset by mistake.
				if env := envSource(c, "secret"); env != "" && c.String("secret") == "" {
					return fmt.Errorf("websockets update: %s (for --secret) is empty: set it to the secret, or pass --secret '' to remove the websocket's secret", env)
				}
				ws, err := cl.UpdateWebsocket(c.Context, id, c.String("secret"))
				return one(c, ws, err)
			}),
			resourceCommand("delete", "delete a websocket (Dialpad may delete its subscriptions too)", "ID", nil, func(c *cli.Context, cl *dialpad.Client) error {
				id, err := idArg(c)
				if err != nil {
					return err
				}
				ws, err := cl.DeleteWebsocket(c.Context, id)
				if err != nil || c.Bool("json") {
					return one(c, ws, err)
				}
				_, err = fmt.Fprintf(c.App.Writer, "deleted websocket %s\n", ws.ID)
				return err
			}),
		},
	}
}

func printWebsockets(c *cli.Context, all []dialpad.Websocket) error {
	show := c.Bool("show-secrets")
	if c.Bool("json") {
		out := make([]dialpad.Websocket, len(all))
		for i, ws := range all {
			out[i] = redactWebsocket(ws, show)
		}
		if c.Command.Name != "list" {
			return printJSON(c.App.Writer, out[0])
		}
		return printJSON(c.App.Writer, out)
	}
	rows := make([][]string, len(all))
	for i, ws := range all {
		rows[i] = []string{ws.ID.String(), signed(ws.Signature), dialpad.RedactURL(ws.URL)}
	}
	return table(c.App.Writer, "ID SIGNED URL", rows)
}

func webhooksCommand() *cli.Command {
	return &cli.Command{
		Name:  "webhooks",
		Usage: "list, get or delete Dialpad webhooks (see also: migrate)",
		Subcommands: []*cli.Command{
			resourceCommand("list", "list every webhook (all pages)", "", nil, func(c *cli.Context, cl *dialpad.Client) error {
				all, err := cl.ListWebhooks(c.Context)
				if err != nil {
					return err
				}
				return printWebhooks(c, all)
			}),
			resourceCommand("get", "show one webhook", "ID", nil, func(c *cli.Context, cl *dialpad.Client) error {
				id, err := idArg(c)
				if err != nil {
					return err
				}
				wh, err := cl.Webhook(c.Context, id)
				if err != nil {
					return err
				}
				return printWebhooks(c, []dialpad.Webhook{wh})
			}),
			resourceCommand("delete", "delete a webhook (Dialpad deletes its subscriptions too)", "ID", nil, func(c *cli.Context, cl *dialpad.Client) error {
				id, err := idArg(c)
				if err != nil {
					return err
				}
				wh, err := cl.DeleteWebhook(c.Context, id)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printWebhooks(c, []dialpad.Webhook{wh})
				}
				_, err = fmt.Fprintf(c.App.Writer, "deleted webhook %s\n", wh.ID)
				return err
			}),
		},
	}
}

func printWebhooks(c *cli.Context, all []dialpad.Webhook) error {
	if c.Bool("json") {
		out := make([]dialpad.Webhook, len(all))
		for i, wh := range all {
			out[i] = redactWebhook(wh, c.Bool("show-secrets"))
		}
		if c.Command.Name != "list" {
			return printJSON(c.App.Writer, out[0])
		}
		return printJSON(c.App.Writer, out)
	}
	rows := make([][]string, len(all))
	for i, wh := range all {
		wh = redactWebhook(wh, c.Bool("show-secrets"))
		rows[i] = []string{wh.ID.String(), signed(wh.Signature), wh.HookURL}
	}
	return table(c.App.Writer, "ID SIGNED HOOK_URL", rows)
}

// createdMaybe adds to the error of a create that Dialpad may have carried
// out all the same (dialpad.MayBeCarriedOut: a 5xx, or no answer) the
// command that finds the object, list: run again, the create would make a
// second one.
func createdMaybe(c *cli.Context, err error, list ...string) error {
	if !dialpad.MayBeCarriedOut(err) {
		return err
	}
	cmd := "`" + strings.Join(append(append([]string{"dialpad-tunnel"}, list...), apiChoice(c)...), " ") + "`"
	return fmt.Errorf("%w\n  Dialpad may have created it all the same (a server error may come after the create was carried out, and no answer tells nothing): before creating it again, look for it with %s", err, cmd)
}
