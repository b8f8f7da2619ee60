// Package demo runs the whole tunnel on the embedded fake Dialpad: it
// streams realistic events through the real `listen` path into a sample
// handler that verifies each one, then prints what arrived.
package demo

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"slices"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
)

// Listen runs the agent against apiBase until ctx is done, forwarding the
// events of websocket websocketID to forwardTo.
type Listen func(ctx context.Context, apiBase, apiKey string, websocketID int64, forwardTo string) error

// Config configures a demo run; zero values get the defaults named.
type Config struct {
	Duration time.Duration // how long events are published; default 10s
	Rate     int           // events per second; default 25
	Secret   string        // websocket secret: events travel as HS256 JWTs; "" sends plain JSON
	TokenTTL time.Duration // lifetime of the fake's websocket tokens; default 4s, so the demo shows rotations
	Settle   time.Duration // how long to wait for the last deliveries; default 10s
	Out      io.Writer     // where the summary goes; default io.Discard
}

// Summary is what the sample handler saw.
type Summary struct {
	Published   int // events the fake Dialpad wrote to an open connection
	Unsent      int // events published while no connection was open (lost by Dialpad's design)
	Delivered   int // distinct events the handler accepted
	Lost        int // published but never delivered
	Duplicates  int // deliveries of an event already delivered
	Rejected    int // POSTs the handler refused (bad Content-Type or signature)
	P50, P99    time.Duration
	Connections int // websocket handshakes, so rotations = Connections - 1
}

// OK reports whether the run lost nothing and the handler accepted all.
func (s Summary) OK() bool { return s.Lost == 0 && s.Rejected == 0 && s.Unsent == 0 && s.Published > 0 }

// Run performs one demo. The listen func runs in a goroutine that Run
// cancels and waits for before returning.
func Run(ctx context.Context, cfg Config, listen Listen) (Summary, error) {
	cfg.fill()
	srv, err := dialpadtest.NewServer(dialpadtest.Config{TokenTTL: cfg.TokenTTL})
	if err != nil {
		return Summary{}, err
	}
	defer srv.Close()
	wsID, err := srv.AddWebsocketForAll(cfg.Secret)
	if err != nil {
		return Summary{}, err
	}
	rc := newReceiver(cfg.Secret)
	hook := httptest.NewServer(rc)
	defer hook.Close()
	fmt.Fprintf(cfg.Out, "demo: fake Dialpad at %s, websocket %d (%s), sample handler at %s\n",
		srv.URL(), wsID, frameForm(cfg.Secret), hook.URL)

	listenCtx, stop := context.WithCancel(ctx)
	defer stop()
	listenErr := make(chan error, 1)
	go func() { listenErr <- listen(listenCtx, srv.URL(), srv.APIKey(), wsID, hook.URL) }()
	if err := WaitConnected(ctx, srv, listenErr); err != nil {
		return Summary{}, err
	}

	sent, unsent, err := publish(ctx, srv, cfg)
	if err != nil {
		stop()
		<-listenErr
		return Summary{}, err
	}
	waitDelivered(ctx, rc, len(sent), cfg.Settle)
	stop()
	if err := <-listenErr; err != nil {
		return Summary{}, fmt.Errorf("listen: %w", err)
	}
	sum := summarize(rc, sent)
	sum.Unsent = unsent
	sum.Connections = srv.Handshakes()
	sum.print(cfg.Out)
	return sum, nil
}

func (c *Config) fill() {
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Rate <= 0 {
		c.Rate = 25
	}
	if c.TokenTTL <= 0 {
		c.TokenTTL = 4 * time.Second
	}
	if c.Settle <= 0 {
		c.Settle = 10 * time.Second
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
}

func frameForm(secret string) string {
	if secret == "" {
		return "plain JSON frames"
	}
	return "HS256 JWT frames"
}

// WaitConnected returns once the agent holds a connection to srv, or with
// the agent's error if it stopped first.
func WaitConnected(ctx context.Context, srv *dialpadtest.Server, listenErr <-chan error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	connected := make(chan error, 1)
	go func() { connected <- srv.WaitConnections(ctx, 1) }()
	select {
	case err := <-connected:
		return err
	case err := <-listenErr:
		if err == nil {
			err = errors.New("agent stopped before connecting")
		}
		return fmt.Errorf("listen: %w", err)
	}
}

// published is one event the fake wrote to at least one connection.
type published struct {
	sum [sha256.Size]byte // digest of the bytes the handler must receive
	at  time.Time
}

// publish streams generated events at cfg.Rate for cfg.Duration.
func publish(ctx context.Context, srv *dialpadtest.Server, cfg Config) (sent []published, unsent int, err error) {
	gen := dialpadtest.NewGenerator(time.Now().UnixNano())
	tick := time.NewTicker(time.Second / time.Duration(cfg.Rate))
	defer tick.Stop()
	end := time.After(cfg.Duration)
	for {
		select {
		case <-ctx.Done():
			return sent, unsent, ctx.Err()
		case <-end:
			return sent, unsent, nil
		case <-tick.C:
		}
		typ, ev := gen.Next()
		wire := ev
		if cfg.Secret != "" {
			jwt, err := signing.SignHS256(ev, cfg.Secret)
			if err != nil {
				return sent, unsent, err
			}
			wire = []byte(jwt)
		}
		p := published{sum: sha256.Sum256(wire), at: time.Now()}
		if srv.Publish(typ, ev).Frames == 0 {
			unsent++
			continue
		}
		sent = append(sent, p)
	}
}

// waitDelivered waits until the handler has want distinct events or settle
// has passed.
func waitDelivered(ctx context.Context, rc *receiver, want int, settle time.Duration) {
	deadline := time.After(settle)
	for {
		if n, _, _ := rc.counts(); n >= want {
			return
		}
		select {
		case <-rc.changed:
		case <-deadline:
			return
		case <-ctx.Done():
			return
		}
	}
}

func summarize(rc *receiver, sent []published) Summary {
	var s Summary
	s.Published = len(sent)
	var lat []time.Duration
	for _, p := range sent {
		at, ok := rc.arrivedAt(p.sum)
		if !ok {
			s.Lost++
			continue
		}
		lat = append(lat, at.Sub(p.at))
	}
	distinct, dups, rejected := rc.counts()
	s.Delivered, s.Duplicates, s.Rejected = distinct, dups, len(rejected)
	s.P50, s.P99 = Percentile(lat, 50), Percentile(lat, 99)
	return s
}

// Percentile returns the p-th percentile (nearest rank) of ds, 0 if empty.
func Percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)]
}

func (s Summary) print(w io.Writer) {
	verdict := "OK: nothing lost"
	if !s.OK() {
		verdict = "FAILED: events were lost or refused"
	}
	fmt.Fprintf(w, "\ndemo summary\n"+
		"  published    %d (while no connection was open: %d)\n"+
		"  delivered    %d\n"+
		"  lost         %d\n"+
		"  duplicates   %d (delivered more than once; the agent's duplicates_dropped= are copies it dropped, not delivered)\n"+
		"  rejected     %d\n"+
		"  latency      p50 %s  p99 %s (publish -> handler)\n"+
		"  connections  %d (token rotations: %d)\n"+
		"  %s\n",
		s.Published, s.Unsent, s.Delivered, s.Lost, s.Duplicates, s.Rejected,
		s.P50.Round(10*time.Microsecond), s.P99.Round(10*time.Microsecond),
		s.Connections, max(s.Connections-1, 0), verdict)
}
