package setup

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

// UnansweredCreate is Apply's error for a create that got no answer (a
// timeout, a lost connection) or a 5xx answer (a gateway's, say, which may
// come after the create was carried out): Dialpad may have carried it out
// all the same, so the object may exist without being in the state file,
// and a second run would create another. Apply does not look for it
// itself: neither a websocket nor a subscription carries anything that
// tells setup's from another one with the same settings (an unsigned
// websocket has no field at all), so a guess could adopt someone else's.
type UnansweredCreate struct {
	// Type is the subscription's type; "" for the websocket.
	Type dialpad.SubscriptionType
	// Key is the subscription's name in the file; "" for the websocket.
	Key string
	// Err is the client's error: a timeout, a cancel, a lost connection,
	// a 5xx answer.
	Err error
}

// Error says what was created and that it may exist.
func (e *UnansweredCreate) Error() string {
	if api := (*dialpad.APIError)(nil); errors.As(e.Err, &api) {
		return "setup: " + e.Err.Error() + " (a server error may come after the create was carried out, so it may have been created all the same)"
	}
	return "setup: " + e.Err.Error() + " (no answer came, so it may have been created all the same)"
}

// Unwrap returns Err.
func (e *UnansweredCreate) Unwrap() error { return e.Err }

// createErr wraps the error of a create of a's object: one Dialpad did not
// refuse (a 4xx made nothing) may have been carried out, a 5xx answer
// included, as listen --create and migrate take it. A connection that was
// never made (refused, no such host) sent nothing.
func createErr(a Action, err error) error {
	if !dialpad.MayBeCarriedOut(err) {
		return fmt.Errorf("setup: %w", err)
	}
	return &UnansweredCreate{Type: a.Type, Key: a.Key, Err: err}
}

// Apply carries out p in order. The state file is saved after every write,
// so an interrupted run resumes without creating duplicates. Creating
// requests are never retried (the dialpad client's rule); one that got no
// answer ends Apply with an *UnansweredCreate. It returns the
// state as saved last.
func (s *Setup) Apply(ctx context.Context, p Plan) (State, error) {
	st := p.state
	st.APIBase = s.cfg.APIBase
	st.Subscriptions = maps.Clone(st.Subscriptions)
	if st.Subscriptions == nil {
		st.Subscriptions = map[string]ManagedSubscription{}
	}
	dirty := true // the first save records APIBase and an adopted websocket
	for _, a := range p.Actions {
		wrote, err := s.apply(ctx, &st, a)
		if wrote {
			dirty = true
		}
		if dirty {
			if serr := SaveState(s.cfg.StatePath, st); serr != nil {
				return st, serr
			}
			dirty = false
		}
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// apply performs one action and records its outcome in st. wrote reports
// whether st changed.
func (s *Setup) apply(ctx context.Context, st *State, a Action) (wrote bool, err error) {
	c := s.cfg.Client
	if a.Type == "" { // the websocket
		switch a.Kind {
		case Create:
			ws, err := c.CreateWebsocket(ctx, a.secret)
			if err != nil {
				return false, createErr(a, err)
			}
			s.cfg.Logger.Info("setup: created", "websocket", ws)
			st.WebsocketID = ws.ID
			return true, nil
		case Update:
			if _, err := c.UpdateWebsocket(ctx, a.ID, a.secret); err != nil {
				return false, fmt.Errorf("setup: %w", err)
			}
			s.cfg.Logger.Info("setup: updated websocket secret", "id", a.ID)
		}
		changed := st.WebsocketID != a.ID
		st.WebsocketID = a.ID
		return changed, nil
	}
	switch a.Kind {
	case Keep:
		return false, nil
	case Update:
		if _, err := c.UpdateSubscription(ctx, a.Type, a.ID, a.spec.Request(st.WebsocketID)); err != nil {
			return false, fmt.Errorf("setup: %w", err)
		}
		s.cfg.Logger.Info("setup: updated", "subscription", a.Key, "id", a.ID)
		return false, nil
	case Delete, Replace:
		typ := a.Type
		if a.oldType != "" {
			typ = a.oldType
		}
		if _, err := c.DeleteSubscription(ctx, typ, a.ID); err != nil && !dialpad.IsNotFound(err) {
			return false, fmt.Errorf("setup: %w", err)
		}
		s.cfg.Logger.Info("setup: deleted", "subscription", a.Key, "id", a.ID)
		delete(st.Subscriptions, a.Key)
		if a.Kind == Delete {
			return true, nil
		}
	}
	sub, err := c.CreateSubscription(ctx, a.Type, a.spec.Request(st.WebsocketID))
	if err != nil {
		return a.Kind == Replace, createErr(a, err)
	}
	s.cfg.Logger.Info("setup: created", "subscription", a.Key, "type", a.Type, "id", sub.ID)
	st.Subscriptions[a.Key] = ManagedSubscription{Type: a.Type, ID: sub.ID}
	return true, nil
}
