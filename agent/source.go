package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

// FetchURL returns a freshly issued websocket_url. An error that wraps a
// *dialpad.APIError with Permanent() stops the agent.
type FetchURL func(ctx context.Context) (string, error)

// Source is one stream of events: a websocket (every subscription attached
// to it) or one subscription.
type Source struct {
	// Name identifies the source in logs, e.g. "websocket 1000".
	Name string
	// Type is the event type when the source is one subscription, "" for a
	// websocket that carries every type.
	Type string
	// Fetch returns a fresh URL; it is called before every connection.
	Fetch FetchURL
}

// WebsocketSource listens with the websocket-level URL, which receives the
// events of every subscription attached to the websocket.
func WebsocketSource(c *dialpad.Client, id dialpad.ID) Source {
	return Source{
		Name: "websocket " + id.String(),
		Fetch: func(ctx context.Context) (string, error) {
			ws, err := c.Websocket(ctx, id)
			if err != nil {
				return "", err
			}
			return ws.URL, nil
		},
	}
}

// SubscriptionSource listens with one subscription's own URL, which receives
// only that subscription's events.
func SubscriptionSource(c *dialpad.Client, typ dialpad.SubscriptionType, id dialpad.ID) Source {
	return Source{
		Name: string(typ) + " subscription " + id.String(),
		Type: string(typ),
		Fetch: func(ctx context.Context) (string, error) {
			sub, err := c.Subscription(ctx, typ, id)
			if err != nil {
				return "", err
			}
			if sub.Websocket == nil || sub.Websocket.URL == "" {
				return "", &notWebsocketError{typ: string(typ), id: id.String()}
			}
			return sub.Websocket.URL, nil
		},
	}
}

// notWebsocketError: the subscription delivers to a webhook, so it has no
// websocket_url. It is permanent.
type notWebsocketError struct{ typ, id string }

func (e *notWebsocketError) Error() string {
	return fmt.Sprintf("%s subscription %s delivers to a webhook, not a websocket (point it at a websocket first)", e.typ, e.id)
}

// permanent reports whether retrying err cannot help.
func permanent(err error) bool {
	var api *dialpad.APIError
	var nw *notWebsocketError
	return (errors.As(err, &api) && api.Permanent()) || errors.As(err, &nw)
}

// dialResult is what one connection attempt produced.
type dialResult struct {
	c   *conn
	err error
}

// connect fetches a fresh URL and opens a connection to it. It runs in a
// goroutine started by source.run and sends exactly one result.
func (s *source) connect(ctx context.Context, n int, out chan<- dialResult) {
	url, err := s.src.Fetch(ctx)
	if err != nil {
		out <- dialResult{err: fmt.Errorf("fetch websocket_url: %w", err)}
		return
	}
	expiry, expErr := dialpad.URLExpiry(url)
	if expErr != nil {
		s.log.Warn("websocket_url token has no readable exp; rotating on the failsafe timer",
			"source", s.src.Name, "url", dialpad.RedactURL(url), "reason", expErr.Error(), "failsafe", s.cfg.MaxConnLifetime)
		expiry = time.Time{}
	}
	ws, err := dial(ctx, s.cfg, url)
	if err != nil {
		out <- dialResult{err: err}
		return
	}
	out <- dialResult{c: newConn(ws, fmt.Sprintf("%s #%d", s.src.Name, n), expiry)}
}

// source runs the connections of one Source. Its run goroutine owns every
// field; readers report back on ended.
type source struct {
	src   Source
	cfg   Config
	log   *slog.Logger
	agent *Agent

	ended  chan *conn      // readers report here when they stop
	dialed chan dialResult // connect reports here
}

// rotateAt is when a connection with this expiry should be replaced:
// RotateBefore ahead of expiry, or a quarter of the token's lifetime ahead
// for short-lived tokens; MaxConnLifetime after opening when exp is unknown.
func (s *source) rotateAt(c *conn) time.Time {
	if c.expiry.IsZero() {
		return c.opened.Add(s.cfg.MaxConnLifetime)
	}
	margin := s.cfg.RotateBefore
	if life := c.expiry.Sub(c.opened); margin > life/4 {
		margin = life / 4
	}
	return c.expiry.Add(-margin)
}

// accept hands a frame read on one of this source's connections to the agent.
func (s *source) accept(c *conn, data []byte) { s.agent.accept(c, &s.src, data) }

// describeGap logs a window without any open connection.
func (s *source) describeGap(from, to time.Time, why string) {
	s.agent.stats.addGap(to.Sub(from))
	s.log.Warn("events sent by Dialpad in this window were missed (no open connection)",
		"source", s.src.Name, "from", from.Format(time.RFC3339Nano), "to", to.Format(time.RFC3339Nano),
		"gap", to.Sub(from).Round(time.Millisecond).String(), "why", why)
}
