// Package soak runs the rotation and fault scenario of issue #4 against the
// embedded fake Dialpad: short-lived tokens, a steady stream of events and,
// optionally, faults injected at random; it then reports what the handler
// received and the gap windows the agent logged.
package soak

import (
	"context"
	"fmt"
	"github.com/dialpad-tunnel/dialpad-tunnel/demo"
	"io"
	"net/http/httptest"
	"slices"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// Listen runs the agent against apiBase until ctx is done, forwarding the
// events of websocket websocketID to forwardTo. The agent must write its
// log to agentLog as JSON lines (slog.NewJSONHandler, Warn level or lower):
// Run reads the gap windows from it.
type Listen func(ctx context.Context, apiBase, apiKey string, websocketID int64, forwardTo string, agentLog io.Writer) error

// Config configures a soak run; zero values get the defaults named.
type Config struct {
	Duration     time.Duration // how long events are published (and faults injected); default 60s
	TokenTTL     time.Duration // lifetime of the fake's websocket tokens; default 500ms
	Rate         int           // events per second; default 500
	Secret       string        // websocket secret: frames are HS256 JWTs; "" sends plain JSON
	Faults       bool          // inject faults at random
	FaultEvery   time.Duration // mean time between faults; default 1s
	Kinds        []string      // faults to pick from (FaultKinds); default all
	PongOff      time.Duration // how long the fake ignores pings in a pong fault; default 600ms (set it above the agent's PongWait)
	Seed         int64         // seeds the events and the fault schedule; 0 means 1
	Settle       time.Duration // how long to wait for the last deliveries; default 10s
	GapTolerance time.Duration // slack when matching an unsent event to a logged gap; default 50ms
	Out          io.Writer     // where the report goes; default io.Discard
	AgentLog     io.Writer     // optional copy of the agent's JSON log lines
}

func (c *Config) fill() error {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Duration, 60*time.Second)
	def(&c.TokenTTL, 500*time.Millisecond)
	def(&c.FaultEvery, time.Second)
	def(&c.PongOff, 600*time.Millisecond)
	def(&c.Settle, 10*time.Second)
	def(&c.GapTolerance, 50*time.Millisecond)
	if c.Rate <= 0 {
		c.Rate = 500
	}
	if c.Rate > 100000 {
		return fmt.Errorf("soak: rate %d events/s is above 100000", c.Rate)
	}
	if len(c.Kinds) == 0 {
		c.Kinds = FaultKinds
	}
	for _, k := range c.Kinds {
		if !slices.Contains(FaultKinds, k) {
			return fmt.Errorf("soak: unknown fault %q", k)
		}
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	return nil
}

// Run performs one soak and prints its report to cfg.Out. The listen func
// runs in a goroutine that Run cancels and waits for before returning.
func Run(ctx context.Context, cfg Config, listen Listen) (Report, error) {
	if err := cfg.fill(); err != nil {
		return Report{}, err
	}
	srv, err := dialpadtest.NewServer(dialpadtest.Config{TokenTTL: cfg.TokenTTL})
	if err != nil {
		return Report{}, err
	}
	defer srv.Close()
	wsID, err := srv.AddWebsocketForAll(cfg.Secret)
	if err != nil {
		return Report{}, err
	}
	rc := newReceiver()
	hook := httptest.NewServer(rc)
	defer hook.Close()
	gaps := newGapLog(cfg.AgentLog)

	listenCtx, stop := context.WithCancel(ctx)
	defer stop()
	listenErr := make(chan error, 1)
	go func() { listenErr <- listen(listenCtx, srv.URL(), srv.APIKey(), wsID, hook.URL, gaps) }()
	if err := demo.WaitConnected(ctx, srv, listenErr); err != nil {
		return Report{}, err
	}

	p := newPublisher(srv, cfg, gaps)
	if err := p.run(ctx); err != nil {
		stop()
		<-listenErr
		return Report{}, err
	}
	waitDelivered(ctx, rc, len(p.sent), cfg.Settle)
	stop()
	if err := <-listenErr; err != nil {
		return Report{}, fmt.Errorf("listen: %w", err)
	}
	windows, connected := gaps.windows()
	r := newReport(cfg, p, rc, windows, connected, srv.Handshakes())
	r.print(cfg.Out)
	return r, nil
}

// waitDelivered waits until the handler has want distinct events or settle
// has passed.
func waitDelivered(ctx context.Context, rc *receiver, want int, settle time.Duration) {
	deadline := time.NewTimer(settle)
	defer deadline.Stop()
	for {
		if n, _ := rc.counts(); n >= want {
			return
		}
		select {
		case <-rc.changed:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}
