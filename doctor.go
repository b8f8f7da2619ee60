package main

import (
	"fmt"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/doctor"
	"github.com/urfave/cli/v2"
)

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check the API key, subscription permissions, the websocket host (through any proxy), the handler and the clock",
		Flags: append([]cli.Flag{
			&cli.Int64Flag{Name: "websocket-id", Usage: "websocket to check", DefaultText: "the first one listed", EnvVars: []string{"DIALPAD_WEBSOCKET_ID"}},
			&cli.StringFlag{Name: "forward-to", Usage: "handler URL to check", EnvVars: []string{"DIALPAD_FORWARD_TO"}},
		}, append(apiFlags(), forwardTLSFlags()...)...),
		Action: func(c *cli.Context) error {
			if err := checkNotEmpty(c, doctorNotEmpty...); err != nil {
				return err
			}
			// An id listen would refuse is said so, not asked of Dialpad.
			if id := c.Int64("websocket-id"); c.IsSet("websocket-id") && id <= 0 {
				return fmt.Errorf("%s %d: want a positive id (see `websockets list`), or leave it out to check the first one listed", flagLabel(c, "websocket-id"), id)
			}
			// A handler URL listen would refuse is said so, as listen says
			// it, not checked as a handler that is down.
			if to := c.String("forward-to"); to != "" {
				if err := checkHandlerURL(to); err != nil {
					return fmt.Errorf("%s: %w", flagLabel(c, "forward-to"), err)
				}
			}
			forwardTLSConfig, err := forwardTLS(c)
			if err != nil {
				return err
			}
			client, cfg, err := newClient(c)
			if err != nil {
				return err
			}
			checks, err := doctor.Run(c.Context, doctor.Config{
				Client:          client,
				APIBase:         cfg.BaseURL,
				WebsocketID:     dialpad.ID(c.Int64("websocket-id")),
				WebsocketIDFrom: flagLabel(c, "websocket-id"),
				ForwardTo:       c.String("forward-to"),
				ForwardTLS:      forwardTLSConfig,
				APIFlags:        apiChoice(c),
			})
			if err != nil {
				return err
			}
			failed := 0
			for _, ch := range checks {
				fmt.Fprintf(c.App.Writer, "[%-4s] %s: %s\n", ch.Status, ch.Name, ch.Detail)
				if ch.Fix != "" {
					fmt.Fprintf(c.App.Writer, "       fix: %s\n", ch.Fix)
				}
				if ch.Status == doctor.Fail {
					failed++
				}
			}
			if failed > 0 {
				return cli.Exit(fmt.Sprintf("doctor: %d check(s) failed", failed), 1)
			}
			fmt.Fprintln(c.App.Writer, "all checks passed")
			return nil
		},
	}
}
