package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/bench"
	"github.com/dialpad-tunnel/dialpad-tunnel/console"
	"github.com/urfave/cli/v2"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure the whole agent path on loopback against a direct POST loop: events/s, p50/p99 latency, ratio",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "events", Value: 20000, Usage: "burst size"},
			&cli.IntFlag{Name: "concurrency", Value: 8, Usage: "parallel POSTs, on both paths"},
			&cli.IntFlag{Name: "rate", Value: 200, Usage: "events/s of the latency phase"},
			&cli.DurationFlag{Name: "rate-for", Value: 5 * time.Second, Usage: "length of the latency phase"},
		},
		Action: func(c *cli.Context) error {
			log := slog.New(console.NewHandler(c.App.ErrWriter, slog.LevelWarn))
			conc := c.Int("concurrency")
			_, err := bench.Run(c.Context, bench.Config{
				Events: c.Int("events"), Concurrency: conc, Rate: c.Int("rate"), RateFor: c.Duration("rate-for"), Out: c.App.Writer,
			}, func(ctx context.Context, apiBase, apiKey string, wsID int64, forwardTo string) error {
				o := localListenOptions(apiBase, apiKey, wsID, forwardTo)
				o.Forward.Concurrency = conc
				o.Agent.Concurrency = conc
				return runListen(ctx, o, log)
			})
			return err
		},
	}
}
