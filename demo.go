package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/demo"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
	"github.com/urfave/cli/v2"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run the whole path on an embedded fake Dialpad: events flow through `listen` into a verifying handler, then a summary",
		Flags: append([]cli.Flag{
			&cli.DurationFlag{Name: "duration", Value: 10 * time.Second, Usage: "how long events are published"},
			&cli.IntFlag{Name: "rate", Value: 25, Usage: "events per second"},
			&cli.StringFlag{Name: "secret", Value: "demo_secret", Usage: "websocket secret: events travel as HS256 JWTs the handler verifies; empty for plain JSON"},
			&cli.DurationFlag{Name: "token-ttl", Value: 4 * time.Second, Usage: "lifetime of the fake's websocket tokens (Dialpad: 1h); short to show rotations"},
		}, logFlags()...),
		Action: func(c *cli.Context) error {
			switch {
			case c.Duration("duration") <= 0:
				return fmt.Errorf("--duration %s: want more than 0", c.Duration("duration"))
			case c.Int("rate") < 1 || c.Int("rate") > 10000:
				return fmt.Errorf("--rate %d: want 1 to 10000 events a second", c.Int("rate"))
			case c.Duration("token-ttl") < 100*time.Millisecond:
				return fmt.Errorf("--token-ttl %s: want 100ms or more", c.Duration("token-ttl"))
			}
			log, out, err := newLogger(c, c.App.Writer)
			if err != nil {
				return err
			}
			defer closeLog(out, c.App.ErrWriter)
			// The banner and summary follow the log lines before them; with
			// JSON logs they go to stderr, so that stdout stays one JSON
			// object a line.
			report := out.Sync()
			if strings.EqualFold(c.String("log-format"), "json") {
				report = c.App.ErrWriter
			}
			sum, err := demo.Run(c.Context, demo.Config{
				Duration: c.Duration("duration"),
				Rate:     c.Int("rate"),
				Secret:   c.String("secret"),
				TokenTTL: c.Duration("token-ttl"),
				Out:      report,
			}, func(ctx context.Context, apiBase, apiKey string, wsID int64, forwardTo string) error {
				dir, err := os.MkdirTemp("", "dialpad-tunnel-demo-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				// A second stop signal quits at once, without the defer.
				defer atQuit(func() { os.RemoveAll(dir) })()
				return runListen(ctx, localListenOptions(apiBase, apiKey, wsID, forwardTo, dir), log)
			})
			if err != nil {
				if c.Context.Err() != nil && errors.Is(err, context.Canceled) {
					// Cut short by a stop signal: say so, not "context canceled".
					return fmt.Errorf("demo: stopped before the summary: %w", context.Cause(c.Context))
				}
				return err
			}
			if !sum.OK() {
				return cli.Exit("demo: events were lost or refused (see the summary)", 1)
			}
			return nil
		},
	}
}

// localListenOptions are `listen`'s defaults pointed at a local fake, with
// the spool in dir.
func localListenOptions(apiBase, apiKey string, wsID int64, forwardTo, dir string) listenOptions {
	o := listenOptions{
		API:         dialpad.Config{BaseURL: apiBase, APIKey: apiKey, UserAgent: "dialpad-tunnel/" + version},
		WebsocketID: dialpad.ID(wsID),
		Spool:       spoolOptions{Path: filepath.Join(dir, "events.spool"), KeepCount: 1000},
	}
	o.Forward.MaxAttempts = forward.Unlimited
	o.Forward.URL = forwardTo
	o.Forward.UserAgent = "dialpad-tunnel/" + version
	return o
}
