package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

// FetchURL returns a freshly issued websocket_url. An error for which
// Config.StopOn is true (by default one that wraps a *dialpad.APIError
// with Permanent()) stops the agent.
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
			return ws.URL, c.CheckWebsocketURL(ws.URL)
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
			return sub.Websocket.URL, c.CheckWebsocketURL(sub.Websocket.URL)
		},
	}
}

// notWebsocketError: the subscription delivers to a webhook, so it has no
// websocket_url. It is permanent.
type notWebsocketError struct{ typ, id string }

func (e *notWebsocketError) Error() string {
	return fmt.Sprintf("%s subscription %s delivers to a webhook, not a websocket (point it at a websocket first)", e.typ, e.id)
}

// StopFunc reports whether a failed fetch of a websocket_url (err) stops
// the agent: retrying cannot help.
type StopFunc func(err error) bool

// StopOnStatuses stops the agent on a REST answer of one of statuses (the
// default is 401, 403 and 404, dialpad.APIError.Permanent), and on a
// subscription that delivers to a webhook. Which statuses Dialpad uses for
// passing refusals (429 for throttling) is inferred, so it is the
// operator's to change.
func StopOnStatuses(statuses ...int) StopFunc {
	statuses = slices.Clone(statuses)
	return func(err error) bool {
		var api *dialpad.APIError
		var nw *notWebsocketError
		return (errors.As(err, &api) && slices.Contains(statuses, api.Status)) || errors.As(err, &nw)
	}
}

// permanentMsg is the line that says why the agent stops on the permanent
// err: Dialpad refused, or the subscription is not one it can read.
func permanentMsg(err error) string {
	var nw *notWebsocketError
	if errors.As(err, &nw) {
		return "stopping: this subscription cannot be read over a websocket"
	}
	return "stopping: Dialpad refused the request"
}

// retriedRefusalHint says what a refusal that stops the agent by default
// (401, 403, 404) most likely means, when StopOn let it be retried: each
// retry's warning would otherwise read as a passing failure, without end.
func retriedRefusalHint(err error) string {
	var api *dialpad.APIError
	if !errors.As(err, &api) {
		return ""
	}
	const retried = "; retried, since --stop-on-status leaves this status out"
	switch api.Status {
	case http.StatusUnauthorized:
		return "the API key was refused: check DIALPAD_API_KEY and --env/--api-base" + retried
	case http.StatusForbidden:
		return "the API key may not be allowed to read this websocket or subscription" + retried
	case http.StatusNotFound:
		return "no such websocket or subscription on this account and environment" + retried
	}
	return ""
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
	if err == nil {
		// What is wrong with it, where the dial would only say "malformed
		// ws or wss URL" of a URL whose token is hidden.
		err = dialpad.CheckURL(url)
	}
	if err != nil {
		out <- dialResult{err: fmt.Errorf("fetch websocket_url: %w", err)}
		return
	}
	dialing := time.Now()
	// Checks on from the dial: the server may send a frame on the open
	// connections and on this one from its handshake on, before the
	// handshake reply reaches us. The arming at the attempt's start may
	// have lapsed while the refresh was retried (a 429 or a 5xx).
	s.agent.armDedupe(dialing)
	expiry := s.localExpiry(url, dialing)
	ws, err := dial(ctx, s.cfg, url)
	if err != nil {
		out <- dialResult{err: err}
		return
	}
	c := newConn(ws, fmt.Sprintf("%s #%d", s.src.Name, n), expiry)
	c.dialed = dialing
	out <- dialResult{c: c}
}

// clockSkewTolerance is how far a token's iat may be from the local time
// of its fetch before the local clock is taken to be off.
const clockSkewTolerance = time.Minute

// localExpiry is when the token of url, fetched at fetched, expires by
// the local clock; zero (rotate on the failsafe timer) when unknown. With
// the clocks in step it is the token's exp. When the token's iat (Dialpad
// issues a fresh token at each fetch) is further than clockSkewTolerance
// from fetched, this host's clock is off: exp read by it would rotate at
// once and without end (a clock an hour ahead), or after Dialpad has
// closed the connection (a clock behind), so the expiry is fetched plus
// the token's lifetime (exp - iat), and the skew is logged.
func (s *source) localExpiry(url string, fetched time.Time) time.Time {
	exp, iat, err := dialpad.URLTimes(url)
	switch {
	case err != nil:
		s.log.Warn("websocket_url token has no readable exp; rotating on the failsafe timer",
			"source", s.src.Name, "url", dialpad.RedactURL(url), "reason", err.Error(), "failsafe", s.cfg.MaxConnLifetime.String())
		return time.Time{}
	case !iat.IsZero() && exp.After(iat) && (iat.Sub(fetched) > clockSkewTolerance || fetched.Sub(iat) > clockSkewTolerance):
		if s.skewLogged.CompareAndSwap(false, true) {
			s.log.Warn("this host's clock is off from Dialpad's (set it by NTP): connections rotate by the token's lifetime, not its expiry time",
				"source", s.src.Name, "offset", fetched.Sub(iat).Round(time.Second).String(), "token_lifetime", exp.Sub(iat).String())
		}
		return fetched.Add(exp.Sub(iat))
	case !exp.After(fetched):
		s.log.Warn("websocket_url token expired before it was used, by this host's clock (is the clock right?); rotating on the failsafe timer",
			"source", s.src.Name, "url", dialpad.RedactURL(url), "expired", fetched.Sub(exp).Round(time.Second).String(), "failsafe", s.cfg.MaxConnLifetime.String())
		return time.Time{}
	}
	return exp
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
	// skewLogged: the clock skew was logged (localExpiry, on connect's
	// goroutines), once per source.
	skewLogged atomic.Bool
}

// rotateAt is when a connection with this expiry should be replaced:
// RotateBefore ahead of expiry, or a quarter of the token's lifetime ahead
// for short-lived tokens; MaxConnLifetime after opening when exp is unknown,
// or when that comes first: Dialpad ends every connection an hour after it
// opened (API.md §5), whatever its token's exp says, and that exp is only
// inferred to be an hour after issue.
func (s *source) rotateAt(c *conn) time.Time {
	failsafe := c.opened.Add(s.cfg.MaxConnLifetime)
	if c.expiry.IsZero() {
		return failsafe
	}
	margin := s.cfg.RotateBefore
	if life := c.expiry.Sub(c.opened); margin > life/4 {
		margin = life / 4
	}
	return earlier(c.expiry.Add(-margin), failsafe)
}

// earlier returns the earlier of a and b.
func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// accept hands a frame read on one of this source's connections to the agent.
func (s *source) accept(c *conn, data []byte) { s.agent.accept(c, &s.src, data) }

// tooLarge reports a frame of size bytes, more than MaxFrameBytes, read on
// c and not kept: the event in it is lost; the connection goes on.
func (s *source) tooLarge(c *conn, size int64) {
	s.agent.stats.oversized.Add(1)
	s.log.Error("an event larger than --max-frame-bytes was refused and is lost; raise the limit to receive such events",
		"source", s.src.Name, "conn", c.name, "bytes", size, "max_frame_bytes", s.cfg.MaxFrameBytes)
}

// describeGap logs a window without any open connection, which ends at
// to, and ends it in the gap totals (where openGap counted it as it began).
func (s *source) describeGap(from, to time.Time, why string) {
	s.agent.stats.gaps.end(s, to.Sub(from))
	s.logGap("events sent by Dialpad in this window were missed (no open connection)", from, to, why)
}

// silentGap logs and counts the window in which c, replaced while its
// pong was overdue, was heard from no more before its replacement opened:
// had it died (a half-open connection), what Dialpad sent on it then
// reached no one, and nothing else would say so. One that was heard from
// after (a frame, a pong), or that answered the close, was alive.
func (s *source) silentGap(c *conn) {
	if c.silentTo.IsZero() || !(c.forced || isTimeout(c.err)) {
		return
	}
	if from := c.lastHeard(); from.Before(c.silentTo) {
		s.agent.stats.gaps.add(c.silentTo.Sub(from))
		s.logGap("events sent by Dialpad in this window may have been missed (the connection stopped answering before its replacement opened)",
			from, c.silentTo, "no pong or frame since, and no answer to its close; conn "+c.name)
	}
}

// openGap counts a window without any open connection, which began at
// from, in the gap totals from now on, while it lasts: describeGap ends it.
func (s *source) openGap(from time.Time) { s.agent.stats.gaps.begin(s, from) }

// logGap logs a window of possibly missed events (counted by the caller).
func (s *source) logGap(msg string, from, to time.Time, why string) {
	gap := to.Sub(from)
	// from shown as to less the gap: both as the wall clock reads now, even
	// if it was stepped since from (a monotonic instant, see monoTime).
	s.log.Warn(msg,
		"source", s.src.Name, "from", to.Add(-gap).Format(time.RFC3339Nano), "to", to.Format(time.RFC3339Nano),
		"gap", gap.Round(time.Millisecond).String(), "why", why)
}
