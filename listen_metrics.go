package main

import (
	"context"
	"log/slog"
	"sync"

	"github.com/dialpad-tunnel/dialpad-tunnel/agent"
	"github.com/dialpad-tunnel/dialpad-tunnel/metrics"
)

// serveMetrics serves --metrics-addr (when ms is not nil) in a goroutine
// that owns the server, until stop is called; stop returns once the
// goroutine has.
func serveMetrics(ctx context.Context, ms *metrics.Server, a *agent.Agent, routes []agent.Route, qs *queues, log *slog.Logger) (stop func()) {
	if ms == nil {
		return func() {}
	}
	run := ctx // done once listen got a stop signal; ctx is reused below
	cfg := metrics.Config{Stats: a.Stats, Version: version, Logger: log, Stopping: func() bool { return run.Err() != nil }}
	for _, r := range routes {
		mr := metrics.Route{Name: r.Name, Pending: r.Queue.Len, Paused: r.Queue.Paused}
		for i, d := range qs.disks {
			if qs.routes[i] == r.Name {
				mr.DeadLetters = d.DeadLetters
			}
		}
		cfg.Routes = append(cfg.Routes, mr)
	}
	// Served through the drain, whose progress it shows, until stop.
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := ms.Serve(ctx, cfg); err != nil {
			log.Warn("metrics are no longer served", "error", err.Error())
		}
	}()
	log.Info("serving metrics", "metrics", "http://"+ms.Addr().String()+"/metrics", "health", "http://"+ms.Addr().String()+"/healthz")
	return func() {
		cancel()
		wg.Wait()
	}
}
