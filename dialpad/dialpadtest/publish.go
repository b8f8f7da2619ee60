package dialpadtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
)

// webhookUserAgent is the User-Agent of webhook POSTs. Dialpad's is not
// documented (API.md Q2), so the fake says what it is.
const webhookUserAgent = "Dialpad-Webhooks/1.0 (dialpadtest)"

// Delivery counts what one Publish delivered.
type Delivery struct {
	// Frames is the number of websocket connections the frame was fully
	// written to (before any close frame on that connection).
	Frames int
	// Webhooks is the number of webhook POSTs answered with a 2xx status.
	Webhooks int
	// WebhookErrors is the number of webhook POSTs that failed: transport
	// error, timeout or non-2xx status. Failed POSTs are not retried.
	WebhookErrors int
	// Subscriptions is the number of enabled subscriptions of the type
	// whose filters took the event, whether or not anyone was listening.
	Subscriptions int
}

// eventFields are the fields subscription filters read from an event.
type eventFields struct {
	State     string `json:"state"`
	Direction string `json:"direction"`
}

// readsFields reports whether matches needs the event's fields: not for
// the "all" filters, so Publish decodes an event only when a filter reads it.
func (sub *subscription) readsFields() bool {
	switch sub.typ {
	case "call":
		return !slices.Contains(sub.callStates, "all")
	case "sms":
		return sub.direction != "all"
	}
	return false
}

// matches reports whether the enabled subscription sub wants an event with
// fields f. Target filters are not applied.
func (sub *subscription) matches(f eventFields) bool {
	switch sub.typ {
	case "call":
		return slices.Contains(sub.callStates, "all") || slices.Contains(sub.callStates, f.State)
	case "sms":
		return sub.direction == "all" || sub.direction == f.Direction
	}
	return true
}

// frameTarget is a connection and the secret of its websocket.
type frameTarget struct {
	c      *conn
	secret string
}

// Publish sends event (raw JSON, sent byte-exact) of type typ (call, sms,
// agent_status, contact, changelog) to every open connection and webhook
// that an enabled, matching subscription of that type links to: for call
// subscriptions call_states must hold "all" or the event's "state", for sms
// direction must be "all" or the event's "direction". A websocket endpoint
// receives it on its websocket-scoped connections and on connections scoped
// to the matching subscription. Each connection and webhook gets the event
// at most once. The frame or body is the event itself when the endpoint has
// no secret, else the event signed as an HS256 JWT with the secret. Publish
// returns after every frame was written and every webhook POST finished.
func (s *Server) Publish(typ string, event []byte) Delivery {
	var (
		f       eventFields
		decoded bool
	)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Delivery{}
	}
	s.wg.Add(1) // Close waits for webhook POSTs before closing idle connections
	defer s.wg.Done()
	var (
		frames     []frameTarget
		hooks      []webhookEP
		seenConn   = make(map[*conn]bool)
		seenHook   = make(map[int64]bool)
		subscribed int
	)
	for _, id := range sortedIDs(s.subs) {
		sub := s.subs[id]
		if sub.typ != typ || !sub.enabled {
			continue
		}
		if !decoded && sub.readsFields() {
			_ = json.Unmarshal(event, &f) // read-only copy; the event bytes are sent as given
			decoded = true
		}
		if !sub.matches(f) {
			continue
		}
		subscribed++
		if ep := s.websockets[sub.endpointID]; ep != nil {
			for c := range s.open {
				sc := c.scope
				if sc.websocketID == ep.id && (sc.subID == 0 || sc.subID == sub.id) && !seenConn[c] {
					seenConn[c] = true
					frames = append(frames, frameTarget{c: c, secret: ep.secret})
				}
			}
		}
		if ep := s.webhooks[sub.endpointID]; ep != nil && !seenHook[ep.id] {
			seenHook[ep.id] = true
			hooks = append(hooks, *ep)
		}
	}
	s.mu.Unlock()

	d := Delivery{Subscriptions: subscribed}
	encoded := make(map[string][]byte) // secret → frame
	for _, t := range frames {
		frame, err := encodeEvent(event, t.secret, encoded)
		if err == nil && t.secret != "" && s.cfg.JWTIssuedAt {
			frame, err = withIssuedAt(event, t.secret, t.c.opened)
		}
		if err == nil && t.c.write(frame) {
			d.Frames++
		}
	}
	for _, ep := range hooks {
		body, err := encodeEvent(event, ep.secret, encoded)
		if err == nil {
			err = s.postWebhook(ep, body)
		}
		if err != nil {
			d.WebhookErrors++
			s.log.Debug("dialpadtest: webhook delivery failed", "webhook_id", ep.id, "error", err)
			continue
		}
		d.Webhooks++
	}
	return d
}

// PublishRaw writes frame, byte for byte, to every open connection that a
// subscription of type typ links to (whatever the websocket's secret), as
// Publish would, but without webhooks and without call_states or direction
// filters (the frame need not be JSON). Tests use it to send forged, truncated
// or otherwise odd frames.
func (s *Server) PublishRaw(typ string, frame []byte) Delivery {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Delivery{}
	}
	var conns []*conn
	seen := make(map[*conn]bool)
	for _, id := range sortedIDs(s.subs) {
		sub := s.subs[id]
		ep := s.websockets[sub.endpointID]
		if sub.typ != typ || !sub.enabled || ep == nil {
			continue
		}
		for c := range s.open {
			sc := c.scope
			if sc.websocketID == ep.id && (sc.subID == 0 || sc.subID == sub.id) && !seen[c] {
				seen[c] = true
				conns = append(conns, c)
			}
		}
	}
	s.mu.Unlock()
	var d Delivery
	for _, c := range conns {
		if c.write(frame) {
			d.Frames++
		}
	}
	return d
}

// withIssuedAt signs event with an "iat" claim (seconds, ms precision)
// put first in the claims.
func withIssuedAt(event []byte, secret string, iat time.Time) ([]byte, error) {
	claims := fmt.Appendf(nil, `{"iat":%.3f,`, float64(iat.UnixMilli())/1000)
	claims = append(claims, bytes.TrimPrefix(bytes.TrimSpace(event), []byte("{"))...)
	tok, err := signing.SignHS256(claims, secret)
	return []byte(tok), err
}

// encodeEvent returns event itself without a secret, else the event as an
// HS256 JWT, memoised per secret in cache.
func encodeEvent(event []byte, secret string, cache map[string][]byte) ([]byte, error) {
	if secret == "" {
		return event, nil
	}
	if b, ok := cache[secret]; ok {
		return b, nil
	}
	tok, err := signing.SignHS256(event, secret)
	if err != nil {
		return nil, err
	}
	cache[secret] = []byte(tok)
	return cache[secret], nil
}

// postWebhook POSTs body to ep once. Errors never contain the hook URL.
func (s *Server) postWebhook(ep webhookEP, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, ep.hookURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %d: invalid hook_url", ep.id)
	}
	ct := "application/json"
	if ep.secret != "" {
		ct = s.cfg.WebhookContentTypeJWT
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("User-Agent", webhookUserAgent)
	resp, err := s.hooks.Do(req)
	if err != nil {
		// Why, without net/url's wrapper, whose text is the whole URL
		// (a path or query may hold a token); a dial error names the
		// host and port only.
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("webhook %d: post failed: %w", ep.id, ue.Err)
		}
		return fmt.Errorf("webhook %d: post failed", ep.id)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook %d: status %d", ep.id, resp.StatusCode)
	}
	return nil
}
