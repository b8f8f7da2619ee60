package soak

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
)

// published is one event the fake wrote to at least one open connection.
type published struct {
	sum [sha256.Size]byte // digest of the bytes the handler must receive
	at  time.Time
}

// publisher streams generated events into the fake at a steady rate and,
// when faults are on, injects them between two events. It is used by one
// goroutine.
type publisher struct {
	srv *dialpadtest.Server
	cfg Config
	gen *dialpadtest.Generator
	inj *injector

	sent   []published // published while the fake had a connection
	unsent []time.Time // published while it had none
}

func newPublisher(srv *dialpadtest.Server, cfg Config, log io.Writer) *publisher {
	p := &publisher{srv: srv, cfg: cfg, gen: dialpadtest.NewGenerator(cfg.Seed)}
	if cfg.Faults {
		p.inj = newInjector(srv, cfg, log)
	}
	return p
}

// run publishes for cfg.Duration, then ends the faults and goes on
// publishing until one event reaches an open connection (at most
// cfg.Settle), so that the agent has logged every gap the stream fell into.
func (p *publisher) run(ctx context.Context) error {
	tick := time.NewTicker(time.Second / time.Duration(p.cfg.Rate))
	defer tick.Stop()
	start := time.Now()
	end, tail := start.Add(p.cfg.Duration), start.Add(p.cfg.Duration+p.cfg.Settle)
	if p.inj != nil {
		p.inj.schedule(start)
		defer p.inj.stop()
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-tick.C:
			if p.inj != nil && now.Before(end) {
				p.inj.maybe(now)
			}
			if p.inj != nil && !now.Before(end) {
				p.inj.stop()
			}
			reached, err := p.publishOne()
			switch {
			case err != nil:
				return err
			case now.Before(end):
			case reached:
				return nil
			case now.After(tail):
				return fmt.Errorf("soak: no connection open %s after the end of the run", p.cfg.Settle)
			}
		}
	}
}

// publishOne publishes the next generated event and reports whether the
// fake wrote it to a connection.
func (p *publisher) publishOne() (bool, error) {
	typ, ev := p.gen.Next()
	wire := ev
	if p.cfg.Secret != "" {
		jwt, err := signing.SignHS256(ev, p.cfg.Secret)
		if err != nil {
			return false, fmt.Errorf("soak: sign event: %w", err)
		}
		wire = []byte(jwt)
	}
	at := time.Now()
	if p.srv.Publish(typ, ev).Frames == 0 {
		p.unsent = append(p.unsent, at)
		return false, nil
	}
	p.sent = append(p.sent, published{sum: sha256.Sum256(wire), at: at})
	return true, nil
}
