package main

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
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

// queues are the routes' queues and how to run them.
type queues struct {
	disks []*spool.Disk
	ran   bool
}

// open opens the spool file of one route (or an in-memory queue with
// --no-spool). The default route uses the spool path itself; another route
// the same path with ".<route>" before the extension.
func (qs *queues) open(o spoolOptions, apiBase string, sources []string, route string, log *slog.Logger) (agent.Queue, error) {
	if o.Off {
		if route == "default" {
			log.Warn("--no-spool: events live in memory only; a crash or restart loses those not yet delivered")
		}
		return spool.NewMemory(), nil
	}
	path, err := stateFile(o.Path, "spool/"+spoolName(apiBase, sources)+spoolExt)
	if err != nil {
		return nil, err
	}
	if route != "default" {
		ext := filepath.Ext(path)
		path = strings.TrimSuffix(path, ext) + "." + route + ext
	}
	if old := strings.TrimSuffix(path, spoolExt) + ".db"; o.Path == "" {
		if _, err := os.Stat(old); err == nil {
			log.Warn("an older spool file is here, in a format this version does not read; its events are not delivered (`events` of the version that wrote it can list them)", "file", old)
		}
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
	qs.disks = append(qs.disks, d)
	return d, nil
}

// describe names the spool files for the start-up line.
func (qs *queues) describe() string {
	if len(qs.disks) == 0 {
		return "memory (--no-spool)"
	}
	paths := make([]string, len(qs.disks))
	for i, d := range qs.disks {
		paths[i] = d.Path()
	}
	return strings.Join(paths, ", ")
}

// run runs the agent with the spools' committers beside it: they start
// first and stop only after the agent (and so every Append, Ack and Dead)
// has returned, flushing the last writes. A failing spool write stops the
// agent. It starts one goroutine per spool file, ended before it returns.
func (qs *queues) run(ctx context.Context, runAgent func(context.Context) error) error {
	qs.ran = true
	agentCtx, stopAgent := context.WithCancel(ctx)
	defer stopAgent()
	spoolCtx, stopSpools := context.WithCancel(context.WithoutCancel(ctx))
	errs := make(chan error, len(qs.disks))
	for _, d := range qs.disks {
		go func() {
			err := d.Run(spoolCtx)
			if err != nil {
				stopAgent()
			}
			errs <- err
		}()
	}
	err := runAgent(agentCtx)
	stopSpools()
	for range qs.disks {
		if serr := <-errs; serr != nil && err == nil {
			err = serr
		}
	}
	return err
}

// closeUnrun closes the spool files when run was never reached (an error
// while setting up).
func (qs *queues) closeUnrun() {
	if !qs.ran && len(qs.disks) > 0 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		qs.run(ctx, func(context.Context) error { return nil })
	}
}

// spoolExt ends the name of every spool file in the default folder.
const spoolExt = ".spool"

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
