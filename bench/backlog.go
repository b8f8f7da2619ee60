package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// backlog publishes cfg.Backlog events to an agent whose handler answers
// 503 to everything, waits until the agent has received them all, stops
// it, and returns its peak RSS.
func backlog(ctx context.Context, cfg Config, gen *dialpadtest.Generator) (int64, error) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer down.Close()
	srv, err := dialpadtest.NewServer(dialpadtest.Config{})
	if err != nil {
		return 0, err
	}
	defer srv.Close()
	wsID, err := srv.AddWebsocketForAll("")
	if err != nil {
		return 0, err
	}
	listenCtx, stop := context.WithCancel(ctx)
	var listenErr error
	stopped := make(chan struct{}) // closed once the agent returned, with listenErr set
	go func() {
		defer close(stopped)
		listenErr = cfg.BacklogListen(listenCtx, srv.URL(), srv.APIKey(), wsID, down.URL)
	}()
	defer func() {
		stop()
		<-stopped
	}()
	if err := waitConnected(ctx, srv, stopped, &listenErr); err != nil {
		return 0, err
	}
	for range cfg.Backlog {
		typ, ev := gen.Next()
		if srv.Publish(typ, ev).Frames != 1 {
			if ctx.Err() != nil { // cut short (a stop signal): not the agent's failure
				return 0, fmt.Errorf("publishing the backlog: %w", context.Cause(ctx))
			}
			return 0, errors.New("an event was not written to the agent's connection")
		}
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(2 * time.Minute)
	for cfg.BacklogProbe.Received() < int64(cfg.Backlog) {
		select {
		case <-tick.C:
		case <-deadline:
			return 0, fmt.Errorf("the agent received %d of %d events", cfg.BacklogProbe.Received(), cfg.Backlog)
		case <-stopped:
			msg := fmt.Sprintf("%d of %d events received", cfg.BacklogProbe.Received(), cfg.Backlog)
			if ctx.Err() != nil { // cut short (a stop signal): not the agent's failure
				return 0, fmt.Errorf("%s: %w", msg, context.Cause(ctx))
			}
			return 0, agentStopped(msg, listenErr)
		case <-ctx.Done():
			return 0, context.Cause(ctx)
		}
	}
	stop()
	<-stopped
	if listenErr != nil {
		return 0, listenErr
	}
	return cfg.BacklogProbe.PeakRSS(), nil
}
