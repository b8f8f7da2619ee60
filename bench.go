package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
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
			&cli.IntFlag{Name: "rounds", Value: 5, Usage: "bursts per path, each agent burst just after a direct one; the figures are the medians (a noisy machine swings one burst's ratio widely)"},
			&cli.IntFlag{Name: "rate", Value: 200, Usage: "events/s of the latency phase"},
			&cli.DurationFlag{Name: "rate-for", Value: 5 * time.Second, Usage: "length of the latency phase"},
			&cli.BoolFlag{Name: "no-spool", Usage: "measure the agent with its in-memory queue instead of the durable spool"},
			&cli.BoolFlag{Name: "in-process", Usage: "run the agent inside the bench process (for --cpuprofile) instead of as its own process (which gives its peak RSS)"},
			&cli.IntFlag{Name: "procs", Value: 0, Usage: "the agent's --procs (cores it runs Go code on; 0: all)"},
			&cli.IntFlag{Name: "memory-limit-mib", Usage: "the agent's --memory-limit-mib", DefaultText: "listen's own"},
			&cli.IntFlag{Name: "backlog", Value: 100000, Usage: "events to publish behind a dead handler to measure the agent's memory with them pending; 0 skips (needs the agent as its own process)"},
			&cli.BoolFlag{Name: "bare", Usage: "also measure a bare forwarder (no spool, no order, no retries) on the agent's path, what any forwarder reaches on this machine, and the direct loop run from a process of its own (not with --in-process)"},
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile to this file (go tool pprof): of the agent's burst run, or with --in-process of the whole run"},
		},
		Action: func(c *cli.Context) error {
			if err := checkFlagRanges(c, benchRanges); err != nil {
				return err
			}
			if err := checkBenchLatencyEvents(c); err != nil {
				return err
			}
			// What needs the agent as its own process is refused with
			// --in-process, not left out without a word.
			for _, name := range []string{"backlog", "memory-limit-mib"} {
				if c.Bool("in-process") && c.IsSet(name) && (name != "backlog" || c.Int(name) > 0) {
					return fmt.Errorf("--%s needs the agent as its own process: drop --in-process", name)
				}
			}
			if c.Bool("in-process") {
				stop, err := startCPUProfile(c.String("cpuprofile"))
				if err != nil {
					return err
				}
				defer stop()
			}
			log := slog.New(console.NewHandler(c.App.ErrWriter, slog.LevelWarn))
			conc := c.Int("concurrency")
			cfg := bench.Config{
				Events: c.Int("events"), Concurrency: conc, Rounds: c.Int("rounds"), Rate: c.Int("rate"), RateFor: c.Duration("rate-for"), Out: c.App.Writer,
			}
			if !c.Bool("in-process") {
				common := []string{"--concurrency", strconv.Itoa(conc), "--max-attempts", "0", "--procs", strconv.Itoa(c.Int("procs"))}
				if c.Bool("no-spool") {
					common = append(common, "--no-spool")
				}
				if c.IsSet("memory-limit-mib") {
					common = append(common, "--memory-limit-mib", strconv.Itoa(c.Int("memory-limit-mib")))
				}
				burst := &benchAgent{args: append([]string{"--log-level", "warn"}, common...)}
				if path := c.String("cpuprofile"); path != "" {
					burst.args = append(burst.args, "--cpuprofile", path)
				}
				backlog := &benchAgent{args: append([]string{"--log-level", "info"}, common...)}
				cfg.Probe = burst
				cfg.Backlog = c.Int("backlog")
				cfg.BacklogListen, cfg.BacklogProbe = backlog.listen, backlog
				if c.Bool("bare") {
					bare := &benchAgent{command: "bench-bare", args: []string{"--concurrency", strconv.Itoa(conc), "--procs", strconv.Itoa(c.Int("procs"))}}
					cfg.Bare, cfg.BareProbe = bare.listen, bare
					cfg.DirectProcess = runBenchDirect
				}
				_, err := bench.Run(c.Context, cfg, burst.listen)
				return benchStopped(c, err)
			}
			if c.Bool("bare") {
				cfg.Bare = func(ctx context.Context, apiBase, apiKey string, wsID int64, forwardTo string) error {
					return bench.BareForward(ctx, apiBase, apiKey, wsID, forwardTo, conc)
				}
			}
			_, err := bench.Run(c.Context, cfg, func(ctx context.Context, apiBase, apiKey string, wsID int64, forwardTo string) error {
				dir, err := os.MkdirTemp("", "dialpad-tunnel-bench-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				o := localListenOptions(apiBase, apiKey, wsID, forwardTo, dir)
				o.Spool.Off = c.Bool("no-spool")
				o.Forward.Concurrency = conc
				o.Agent.Concurrency = conc
				return runListen(ctx, o, log)
			})
			return benchStopped(c, err)
		},
	}
}

// benchRanges are the meaningful values of bench's numeric flags. Those it
// passes on to the agent have listen's ranges, so the agent never refuses
// them.
var benchRanges = []flagRange{
	{"events", 1, benchMaxEvents, "1 to 1000000"}, // all held in memory at once
	{"concurrency", 1, 4096, "1 to 4096"},
	{"rounds", 1, 100, "1 to 100"},
	{"rate", 1, 100000, "1 to 100000"},
	// The latency phase sends --rate events in each whole second.
	{"rate-for", int64(time.Second), math.MaxInt64, "1s or more"},
	{"procs", 0, int64(runtime.NumCPU()), procsWant},
	{"memory-limit-mib", 0, 1 << 20, "0 (none) to 1048576 (1 TiB)"},
	{"backlog", 0, math.MaxInt32, "0 (skip) to 2147483647"},
}

// benchMaxEvents bounds the events bench makes before it starts, and holds
// in memory (about 1.1 KB each): the burst, and apart the latency phase's.
const benchMaxEvents = 1000000

// checkBenchLatencyEvents refuses a --rate and --rate-for whose latency
// phase would need more than benchMaxEvents events, all made before the
// run starts: past it bench ran out of memory, or panicked.
func checkBenchLatencyEvents(c *cli.Context) error {
	secs := int64(c.Duration("rate-for")/time.Second) + 1 // the whole seconds, and one more
	if n := int64(c.Int("rate")) * secs; n > benchMaxEvents {
		return fmt.Errorf("%s %d with %s %s: the latency phase would need %d events, want at most %d (all made before the run starts): lower one of them",
			flagLabel(c, "rate"), c.Int("rate"), flagLabel(c, "rate-for"), c.Duration("rate-for"), n, benchMaxEvents)
	}
	return nil
}

// benchStopped is bench.Run's error, saying that the run was stopped
// when a stop signal cut it short, not a bare "context canceled" or an
// agent that "stopped".
func benchStopped(c *cli.Context, err error) error {
	if err != nil && c.Context.Err() != nil && errors.Is(err, context.Canceled) {
		return fmt.Errorf("bench: stopped before the report: %w", context.Cause(c.Context))
	}
	return err
}

// startCPUProfile starts a CPU profile written to path, if not empty; stop
// ends it and closes the file.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile %s: %w", path, err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// benchBareCommand runs bench.BareForward as its own process, for
// `bench --bare`; it is hidden, as only bench starts it.
func benchBareCommand() *cli.Command {
	return &cli.Command{
		Name:   "bench-bare",
		Usage:  "a bare forwarder, the reference bench --bare measures (started by bench)",
		Hidden: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "api-base", Required: true},
			&cli.Int64Flag{Name: "websocket-id", Required: true},
			&cli.StringFlag{Name: "forward-to", Required: true},
			&cli.IntFlag{Name: "concurrency", Value: 8},
			&cli.IntFlag{Name: "procs", Value: 0},
		},
		Action: func(c *cli.Context) error {
			if err := setProcs(c.Int("procs")); err != nil {
				return err
			}
			if err := checkAPIBase(c.String("api-base")); err != nil {
				return fmt.Errorf("--api-base: %w", err)
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return bench.BareForward(ctx, c.String("api-base"), os.Getenv("DIALPAD_API_KEY"), c.Int64("websocket-id"), c.String("forward-to"), c.Int("concurrency"))
		},
	}
}

// benchDirectCommand runs bench.PostBurst, the direct loop from a process
// of its own, for `bench --bare`; it is hidden, as only bench starts it. It
// says "ready" on stdout once its events are made, and starts when a line
// comes on stdin.
func benchDirectCommand() *cli.Command {
	return &cli.Command{
		Name:   "bench-direct",
		Usage:  "the direct POST loop from its own process, a reference bench --bare measures (started by bench)",
		Hidden: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "forward-to", Required: true},
			&cli.IntFlag{Name: "events", Value: 20000},
			&cli.IntFlag{Name: "concurrency", Value: 8},
		},
		Action: func(c *cli.Context) error {
			return bench.PostBurst(c.Context, c.String("forward-to"), c.Int("events"), c.Int("concurrency"), func() error {
				fmt.Fprintln(c.App.Writer, "ready")
				return awaitGo(c.Context, c.App.Reader)
			})
		},
	}
}

// awaitGo returns when a line comes on r (bench's go), r ends, or ctx is
// done. The line is read on a goroutine that ends with the read: when the
// bench writes or closes the pipe, or with the process.
func awaitGo(ctx context.Context, r io.Reader) error {
	read := make(chan error, 1)
	go func() {
		_, err := bufio.NewReader(r).ReadString('\n')
		read <- err
	}()
	select {
	case err := <-read:
		if err != nil {
			return fmt.Errorf("bench-direct: waiting for the go: %w", err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
