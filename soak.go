package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/soak"
	"github.com/urfave/cli/v2"
)

func soakCommand() *cli.Command {
	return &cli.Command{
		Name:  "soak",
		Usage: "rotate tokens fast (and inject faults) on an embedded fake Dialpad while events flow through `listen`; report lost, duplicated and gap time",
		UsageText: "dialpad-tunnel soak --duration 60s --token-ttl 500ms --rate 500\n" +
			"dialpad-tunnel soak --duration 60s --token-ttl 500ms --rate 500 --faults --seed 7",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "duration", Value: 60 * time.Second, Usage: "how long events are published (and faults injected)"},
			&cli.DurationFlag{Name: "token-ttl", Value: 500 * time.Millisecond, Usage: "lifetime of the fake's websocket tokens (Dialpad: 1h)"},
			&cli.IntFlag{Name: "rate", Value: 500, Usage: "events per second"},
			&cli.BoolFlag{Name: "faults", Usage: "inject faults at random: TCP drops, close 1001/1011, refused handshakes, REST 429/500 on refresh, unanswered pings"},
			&cli.DurationFlag{Name: "fault-every", Value: time.Second, Usage: "mean time between faults"},
			&cli.Int64Flag{Name: "seed", Value: 1, Usage: "seed of the events and of the fault schedule"},
			&cli.StringFlag{Name: "secret", Usage: "websocket secret: frames travel as HS256 JWTs; empty for plain JSON"},
			&cli.DurationFlag{Name: "ping-interval", Value: 100 * time.Millisecond, Usage: "agent ping interval (must be less than half --pong-wait)"},
			&cli.DurationFlag{Name: "pong-wait", Value: 300 * time.Millisecond, Usage: "agent: no pong for this long ends the connection"},
			&cli.BoolFlag{Name: "agent-log", Usage: "copy the agent's JSON log lines to stderr"},
		},
		Action: func(c *cli.Context) error {
			if err := checkSoakFlags(c); err != nil {
				return err
			}
			if c.IsSet("fault-every") && !c.Bool("faults") {
				return errors.New("--fault-every spaces the faults of --faults: add --faults")
			}
			var agentLog io.Writer
			if c.Bool("agent-log") {
				agentLog = c.App.ErrWriter
			}
			t := soakTiming{
				TokenTTL:     c.Duration("token-ttl"),
				PingInterval: c.Duration("ping-interval"),
				PongWait:     c.Duration("pong-wait"),
			}
			r, err := soak.Run(c.Context, soak.Config{
				Duration:   c.Duration("duration"),
				TokenTTL:   t.TokenTTL,
				Rate:       c.Int("rate"),
				Secret:     c.String("secret"),
				Faults:     c.Bool("faults"),
				FaultEvery: c.Duration("fault-every"),
				PongOff:    2 * t.PongWait,
				Seed:       c.Int64("seed"),
				Out:        c.App.Writer,
				AgentLog:   agentLog,
			}, soakListen(t))
			if err != nil {
				if c.Context.Err() != nil && errors.Is(err, context.Canceled) {
					// Cut short by a stop signal: say so, not "context canceled".
					return fmt.Errorf("soak: stopped before the report: %w", context.Cause(c.Context))
				}
				return err
			}
			if !r.OK() {
				return cli.Exit("soak: events were lost or delivered twice, or a gap went unlogged (see the report)", 1)
			}
			return nil
		},
	}
}

// soakRanges are the meaningful values of soak's numeric flags (the seed
// takes any).
var soakRanges = []flagRange{
	{"duration", 1, math.MaxInt64, "more than 0"},
	{"token-ttl", int64(100 * time.Millisecond), math.MaxInt64, "100ms or more (Dialpad's is 1h)"}, // as emulator's
	{"rate", 1, 100000, "1 to 100000"},
	{"fault-every", 1, math.MaxInt64, "more than 0"},
	{"ping-interval", 1, math.MaxInt64, "more than 0"},
	{"pong-wait", 1, math.MaxInt64, "more than 0"},
	{"seed", math.MinInt64, math.MaxInt64, "any number"},
}

// checkSoakFlags refuses a flag of soak out of its range, before anything
// starts.
func checkSoakFlags(c *cli.Context) error {
	if err := checkFlagRanges(c, soakRanges); err != nil {
		return err
	}
	return checkPingPong(c)
}

// soakTiming scales the agent's and the REST client's waits to the fake's
// short token lifetime, as an hour-long token relates to the defaults.
type soakTiming struct {
	TokenTTL, PingInterval, PongWait time.Duration
}

// soakListen runs the real `listen` path with the agent logging JSON into
// the writer soak reads its gap windows from.
func soakListen(t soakTiming) soak.Listen {
	return func(ctx context.Context, apiBase, apiKey string, wsID int64, forwardTo string, agentLog io.Writer) error {
		dir, err := os.MkdirTemp("", "dialpad-tunnel-soak-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o := localListenOptions(apiBase, apiKey, wsID, forwardTo, dir)
		// A 429's Retry-After (whole seconds) is capped at RetryWaitMax, so a
		// refresh retried a few times still fits in the rotation margin.
		o.API.Timeout = 2 * time.Second
		o.API.RetryWaitMin = 10 * time.Millisecond
		o.API.RetryWaitMax = 40 * time.Millisecond
		o.Forward.RetryWaitMin = 10 * time.Millisecond
		o.Forward.RetryWaitMax = 200 * time.Millisecond
		o.Agent.PingInterval = t.PingInterval
		o.Agent.PongWait = t.PongWait
		o.Agent.HandshakeTimeout = 2 * time.Second
		o.Agent.WriteWait = 200 * time.Millisecond
		o.Agent.CloseWait = 500 * time.Millisecond
		o.Agent.BackoffMin = 20 * time.Millisecond
		o.Agent.BackoffMax = 250 * time.Millisecond
		o.Agent.BackoffReset = t.TokenTTL / 2
		o.Agent.DrainTimeout = 5 * time.Second
		log := slog.New(slog.NewJSONHandler(agentLog, &slog.HandlerOptions{Level: slog.LevelInfo}))
		return runListen(ctx, o, log)
	}
}
