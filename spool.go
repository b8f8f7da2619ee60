package main

import (
	"context"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/agent"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// spoolOptions are the --spool flags of listen.
type spoolOptions struct {
	Path      string // "" means the default file for the sources
	Off       bool   // --no-spool
	KeepCount int
	KeepAge   time.Duration
}

// queue is the agent's queue together with how to run it.
type queue struct {
	agent.Queue
	disk *spool.Disk // nil with --no-spool
}

// openQueue opens the spool file (or the in-memory queue with --no-spool).
func openQueue(o spoolOptions, apiBase string, sources []string, log *slog.Logger) (*queue, error) {
	if o.Off {
		log.Warn("--no-spool: events live in memory only; a crash or restart loses those not yet delivered")
		return &queue{Queue: spool.NewMemory()}, nil
	}
	path, err := stateFile(o.Path, "spool/"+spoolName(apiBase, sources)+".db")
	if err != nil {
		return nil, err
	}
	keep := o.KeepCount
	if keep == 0 {
		keep = -1 // DiskConfig: negative keeps none
	}
	d, err := spool.OpenDisk(spool.DiskConfig{Path: path, KeepCount: keep, KeepAge: o.KeepAge, Logger: log})
	if err != nil {
		return nil, err
	}
	if n := d.Len(); n > 0 {
		log.Info("spool holds undelivered events from an earlier run; delivering them first", "count", n, "spool", path)
	}
	return &queue{Queue: d, disk: d}, nil
}

// describe names the queue for the start-up line.
func (q *queue) describe() string {
	if q.disk == nil {
		return "memory (--no-spool)"
	}
	return q.disk.Path()
}

// run runs the agent with the spool's committer beside it: the committer
// starts first and stops only after the agent (and so every Append, Ack and
// Dead) has returned, flushing the last writes. A failing spool write stops
// the agent.
func (q *queue) run(ctx context.Context, runAgent func(context.Context) error) error {
	if q.disk == nil {
		return runAgent(ctx)
	}
	agentCtx, stopAgent := context.WithCancel(ctx)
	defer stopAgent()
	spoolCtx, stopSpool := context.WithCancel(context.WithoutCancel(ctx))
	spoolErr := make(chan error, 1)
	go func() {
		err := q.disk.Run(spoolCtx)
		if err != nil {
			stopAgent()
		}
		spoolErr <- err
	}()
	err := runAgent(agentCtx)
	stopSpool()
	if serr := <-spoolErr; serr != nil {
		return serr
	}
	return err
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// spoolName is the default spool file name for an API host and its
// sources, e.g. "dialpad.com-websocket-1000": one file per listen setup.
func spoolName(apiBase string, sources []string) string {
	host := apiBase
	if u, err := url.Parse(apiBase); err == nil && u.Host != "" {
		host = u.Host
	}
	name := host + "-" + strings.Join(sources, "+")
	return strings.Trim(unsafeName.ReplaceAllString(name, "-"), "-")
}

// maxAttempts maps the flag (0: until --max-age) to forward's setting.
func maxAttempts(n int) int {
	if n <= 0 {
		return forward.Unlimited
	}
	return n
}
