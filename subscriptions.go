package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/urfave/cli/v2"
)

// typedSub is a subscription with the type it was fetched as.
type typedSub struct {
	typ dialpad.SubscriptionType
	sub dialpad.Subscription
}

func subscriptionsCommand() *cli.Command {
	typeFlag := &cli.StringFlag{Name: "type", Usage: "subscription type: call, sms, agent_status, contact or changelog"}
	typed := func(action func(c *cli.Context, cl *dialpad.Client, typ dialpad.SubscriptionType) error) resourceAction {
		return func(c *cli.Context, cl *dialpad.Client) error {
			if c.String("type") == "" {
				return fmt.Errorf("%s: pass --type (call, sms, agent_status, contact or changelog)", commandPath(c))
			}
			typ, err := dialpad.ParseSubscriptionType(c.String("type"))
			if err != nil {
				return err
			}
			return action(c, cl, typ)
		}
	}
	withID := func(action func(c *cli.Context, cl *dialpad.Client, typ dialpad.SubscriptionType, id dialpad.ID) error) resourceAction {
		return typed(func(c *cli.Context, cl *dialpad.Client, typ dialpad.SubscriptionType) error {
			id, err := idArg(c)
			if err != nil {
				return err
			}
			return action(c, cl, typ, id)
		})
	}
	one := func(c *cli.Context, typ dialpad.SubscriptionType, s dialpad.Subscription, err error) error {
		if err != nil {
			return err
		}
		return printSubscriptions(c, []typedSub{{typ, s}})
	}
	editFlags := append([]cli.Flag{typeFlag,
		&cli.Int64Flag{Name: "endpoint-id", Usage: "websocket or webhook the events go to"},
		&cli.BoolFlag{Name: "enabled", Value: true, Usage: "deliver events (--enabled=false pauses the subscription)"},
	}, subscriptionFlags()...)
	return &cli.Command{
		Name:  "subscriptions",
		Usage: "list, get, create, update or delete Dialpad event subscriptions",
		Subcommands: []*cli.Command{
			resourceCommand("list", "list subscriptions of --type, or of every type (all pages)", "", []cli.Flag{typeFlag}, func(c *cli.Context, cl *dialpad.Client) error {
				types := dialpad.SubscriptionTypes()
				if c.String("type") != "" {
					t, err := dialpad.ParseSubscriptionType(c.String("type"))
					if err != nil {
						return err
					}
					types = []dialpad.SubscriptionType{t}
				}
				var all []typedSub
				for _, t := range types {
					subs, err := cl.ListSubscriptions(c.Context, t)
					if err != nil {
						return err
					}
					for _, s := range subs {
						all = append(all, typedSub{t, s})
					}
				}
				return printSubscriptions(c, all)
			}),
			resourceCommand("get", "show one subscription", "ID", []cli.Flag{typeFlag}, withID(func(c *cli.Context, cl *dialpad.Client, typ dialpad.SubscriptionType, id dialpad.ID) error {
				s, err := cl.Subscription(c.Context, typ, id)
				return one(c, typ, s, err)
			})),
			resourceCommand("create", "create a subscription (never retried)", "", editFlags, typed(func(c *cli.Context, cl *dialpad.Client, typ dialpad.SubscriptionType) error {
				if !c.IsSet("endpoint-id") {
					return errors.New("subscriptions create: pass --endpoint-id of a websocket or webhook")
				}
				if err := checkEndpointID(c); err != nil {
					return err
				}
				specs, err := specsFromFlags(c, []dialpad.SubscriptionType{typ})
				if err != nil {
					return err
				}
				warnSentCallStates(c)
				specs[0].Enabled = new(c.Bool("enabled"))
				s, err := cl.CreateSubscription(c.Context, typ, specs[0].Request(dialpad.ID(c.Int64("endpoint-id"))))
				return one(c, typ, s, createdMaybe(c, err, "subscriptions", "list", "--type", string(typ)))
			})),
			resourceCommand("update", "change the options given (others stay as they are)", "ID", editFlags, withID(func(c *cli.Context, cl *dialpad.Client, typ dialpad.SubscriptionType, id dialpad.ID) error {
				if err := somethingToChange(c, editFlags); err != nil {
					return err
				}
				if err := checkEndpointID(c); err != nil {
					return err
				}
				req, err := partialRequest(c, typ)
				if err != nil {
					return err
				}
				warnSentCallStates(c)
				if typ == dialpad.Contact && req.ContactType == "" { // Dialpad requires it on every update
					cur, err := cl.Subscription(c.Context, typ, id)
					if err != nil {
						return err
					}
					req.ContactType = cur.ContactType
				}
				s, err := cl.UpdateSubscription(c.Context, typ, id, req)
				return one(c, typ, s, err)
			})),
			resourceCommand("delete", "delete a subscription", "ID", []cli.Flag{typeFlag}, withID(func(c *cli.Context, cl *dialpad.Client, typ dialpad.SubscriptionType, id dialpad.ID) error {
				s, err := cl.DeleteSubscription(c.Context, typ, id)
				if err != nil || c.Bool("json") {
					return one(c, typ, s, err)
				}
				_, err = fmt.Fprintf(c.App.Writer, "deleted %s subscription %s\n", typ, s.ID)
				return err
			})),
		},
	}
}

func printSubscriptions(c *cli.Context, all []typedSub) error {
	if c.Bool("json") {
		out := make([]typedSubscription, len(all))
		for i, s := range all {
			out[i] = redactSubscription(s.typ, s.sub, c.Bool("show-secrets"))
		}
		if c.Command.Name != "list" {
			return printJSON(c.App.Writer, out[0])
		}
		return printJSON(c.App.Writer, out)
	}
	rows := make([][]string, len(all))
	for i, s := range all {
		rows[i] = []string{string(s.typ), s.sub.ID.String(), fmt.Sprint(s.sub.Enabled), endpointText(s.sub), subscriptionOptionsText(s.typ, s.sub)}
	}
	return table(c.App.Writer, "TYPE ID ENABLED ENDPOINT OPTIONS", rows)
}

// checkEndpointID refuses an --endpoint-id given that is not positive:
// no websocket or webhook has such an id, and Dialpad's answer (a 404)
// would not name the flag.
func checkEndpointID(c *cli.Context) error {
	if id := c.Int64("endpoint-id"); c.IsSet("endpoint-id") && id <= 0 {
		return fmt.Errorf("%s: --endpoint-id %d: want the positive id of a websocket or webhook (see `websockets list`, `webhooks list`)", commandPath(c), id)
	}
	return nil
}

// somethingToChange refuses an update that names no option to change
// (flags but --type): it used to send an empty PATCH and exit 0, as if
// something had been done.
func somethingToChange(c *cli.Context, flags []cli.Flag) error {
	var names []string
	for _, f := range flags {
		name := f.Names()[0]
		if name == "type" {
			continue
		}
		if c.IsSet(name) {
			return nil
		}
		names = append(names, "--"+name)
	}
	return fmt.Errorf("subscriptions update: nothing to change: give one or more of %s", strings.Join(names, ", "))
}
