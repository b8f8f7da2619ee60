package migrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

// Config configures a Migrator.
type Config struct {
	// Client talks to Dialpad; required.
	Client *dialpad.Client
	// APIBase is the API Client talks to (its BaseURL); required. Apply
	// writes it in the record, and Rollback refuses a record of another.
	APIBase string
	// Logger receives a line per write; default discard.
	Logger *slog.Logger
	// Secret, when SecretSet, is the webhook's signing secret as the user
	// gives it (migrate --secret), used in place of the one Dialpad
	// returns: that the API returns it in full is only inferred. Never
	// printed.
	Secret    string
	SecretSet bool
}

// Migrator plans, applies and rolls back migrations.
type Migrator struct {
	cfg Config
}

// New validates cfg and returns a Migrator.
func New(cfg Config) (*Migrator, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("migrate: config: Client is required")
	case cfg.APIBase == "":
		return nil, errors.New("migrate: config: APIBase is required")
	}
	cfg.APIBase = dialpad.CanonicalBase(cfg.APIBase)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Migrator{cfg: cfg}, nil
}

// APIBase is the API m talks to, as configured.
func (m *Migrator) APIBase() string { return m.cfg.APIBase }

// Plan is what a migration will change. It holds the webhook's secret
// unexported: printing a Plan never shows it.
type Plan struct {
	WebhookID dialpad.ID
	HookURL   string
	Signed    bool
	// SecretGiven: the secret is Config.Secret, not the webhook's as read;
	// ReadBackDiffers: the one read from Dialpad is another (masked, or
	// left out).
	SecretGiven, ReadBackDiffers bool
	// WebsocketID is the websocket that is reused, 0 when one is created.
	WebsocketID dialpad.ID
	// Subscriptions are the ones that deliver to the webhook, as they are.
	Subscriptions []Snapshot
	// Unlisted names the types that could not be listed (e.g. 403 for
	// admin-only types), with the error; their subscriptions stay put.
	Unlisted map[dialpad.SubscriptionType]error

	secret string
}

// Plan reads the webhook, every subscription and, when websocketID is 0,
// the websockets, to find one with the webhook's (non-empty) secret (or
// Config.Secret, when set). A
// websocketID given must have that secret. Plan makes no REST write.
func (m *Migrator) Plan(ctx context.Context, webhookID, websocketID dialpad.ID) (Plan, error) {
	c := m.cfg.Client
	wh, err := c.Webhook(ctx, webhookID)
	if err != nil {
		return Plan{}, fmt.Errorf("migrate: %w", err)
	}
	p := Plan{WebhookID: wh.ID, HookURL: wh.HookURL, secret: wh.Secret()}
	if m.cfg.SecretSet {
		p.SecretGiven, p.ReadBackDiffers = true, m.cfg.Secret != p.secret
		p.secret = m.cfg.Secret
	}
	p.Signed = p.secret != ""
	switch {
	case websocketID != 0:
		ws, err := c.Websocket(ctx, websocketID)
		if err != nil {
			return Plan{}, fmt.Errorf("migrate: %w", err)
		}
		if ws.Secret() != p.secret {
			return Plan{}, fmt.Errorf("migrate: websocket %s is not signed with webhook %s's secret, so the handler would reject its events: omit --websocket-id to create one", ws.ID, wh.ID)
		}
		p.WebsocketID = ws.ID
	case p.secret != "":
		all, err := c.ListWebsockets(ctx)
		if err != nil {
			return Plan{}, fmt.Errorf("migrate: %w", err)
		}
		for _, ws := range all {
			if ws.Secret() == p.secret {
				p.WebsocketID = ws.ID
				break
			}
		}
	}
	for _, typ := range dialpad.SubscriptionTypes() {
		subs, err := c.ListSubscriptions(ctx, typ)
		if err != nil {
			if !dialpad.IsPermanent(err) {
				return Plan{}, fmt.Errorf("migrate: %w", err)
			}
			if p.Unlisted == nil {
				p.Unlisted = map[dialpad.SubscriptionType]error{}
			}
			p.Unlisted[typ] = err
			continue
		}
		for _, s := range subs {
			if s.Webhook != nil && s.Webhook.ID == wh.ID {
				p.Subscriptions = append(p.Subscriptions, SnapshotOf(typ, s))
			}
		}
	}
	return p, nil
}

// ErrNothingToMigrate is wrapped by Apply when no subscription delivers to
// the webhook: a websocket would carry no event, so nothing is created.
var ErrNothingToMigrate = errors.New("nothing to migrate")

// Record is the rollback record of one migration: everything Rollback needs
// to restore the subscriptions exactly. It holds no secret.
type Record struct {
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	// APIBase is the API the ids belong to, as setup's state file says; a
	// record is never rolled back against another. Records written before
	// it was added have none (see Migrator.CheckRecord).
	APIBase     string     `json:"api_base"`
	WebhookID   dialpad.ID `json:"webhook_id"`
	WebsocketID dialpad.ID `json:"websocket_id"`
	// WebsocketCreated is true when the migration created the websocket
	// (rather than reusing one): only then does Rollback delete it.
	WebsocketCreated bool `json:"websocket_created"`
	// WebsocketCreating is true in the record Apply writes before it asks
	// Dialpad for a websocket, with WebsocketID 0; the record written once
	// the answer came names the websocket instead (WebsocketCreated). A
	// record still creating (see CreateUnanswered) is of a run stopped
	// before the answer: a websocket may exist that no record names.
	WebsocketCreating bool `json:"websocket_creating,omitempty"`
	// Subscriptions are the moved subscriptions as they were before.
	Subscriptions []Snapshot `json:"subscriptions"`
}

// CreateUnanswered reports whether rec is of a run stopped while it was
// creating a websocket, before Dialpad's answer: no subscription moved, and
// a websocket may exist on Dialpad that no record names.
func (rec Record) CreateUnanswered() bool { return rec.WebsocketCreating && rec.WebsocketID == 0 }

// ErrCreateRefused is wrapped by Apply when Dialpad refused to create the
// websocket (a 4xx answer): nothing was created and no subscription moved,
// so the record Apply saved names nothing to undo and may be removed.
var ErrCreateRefused = errors.New("Dialpad refused to create the websocket, nothing changed")

// Apply calls save with the rollback record before each change: when p
// reuses no websocket, once before it asks Dialpad for one (the record
// says a websocket is being created, see CreateUnanswered) and once with
// the new websocket's id as soon as the answer comes; then it re-points
// every subscription of p to the websocket. A failure or a kill after the
// first save leaves a record that Rollback can use. A plan with no
// subscription changes nothing, saves no record and returns an error
// wrapping ErrNothingToMigrate.
func (m *Migrator) Apply(ctx context.Context, p Plan, save func(Record) error) (Record, error) {
	if len(p.Subscriptions) == 0 {
		return Record{}, fmt.Errorf("migrate: no subscription delivers to webhook %s: %w, nothing changed", p.WebhookID, ErrNothingToMigrate)
	}
	c := m.cfg.Client
	rec := Record{Version: 1, CreatedAt: time.Now().UTC(), APIBase: m.cfg.APIBase, WebhookID: p.WebhookID, WebsocketID: p.WebsocketID, Subscriptions: p.Subscriptions}
	if rec.WebsocketID == 0 {
		rec.WebsocketCreating = true
		if err := save(rec); err != nil {
			return Record{}, fmt.Errorf("migrate: save rollback record: %w (nothing changed)", err)
		}
		ws, err := c.CreateWebsocket(ctx, p.secret)
		if err != nil {
			if dialpad.IsRefused(err) {
				return rec, fmt.Errorf("migrate: %w: %w", err, ErrCreateRefused)
			}
			return rec, fmt.Errorf("migrate: %w (Dialpad may have created the websocket all the same)", err)
		}
		m.cfg.Logger.Info("migrate: created", "websocket", ws)
		rec.WebsocketID, rec.WebsocketCreated, rec.WebsocketCreating = ws.ID, true, false
		if err := save(rec); err != nil {
			return rec, fmt.Errorf("migrate: save rollback record: %w (websocket %s was created, no subscription moved)", err, ws.ID)
		}
	} else if err := save(rec); err != nil {
		return Record{}, fmt.Errorf("migrate: save rollback record: %w (nothing changed)", err)
	}
	var errs []error
	for _, before := range p.Subscriptions {
		after, err := c.UpdateSubscription(ctx, before.Type, before.ID, repoint(before, rec.WebsocketID))
		if err != nil {
			errs = append(errs, fmt.Errorf("migrate: %w", err))
			continue
		}
		want := before
		want.EndpointID = rec.WebsocketID
		if d := want.Differences(SnapshotOf(before.Type, after)); len(d) > 0 {
			errs = append(errs, fmt.Errorf("migrate: %s moved, but Dialpad also changed %v", before, d))
		}
		m.cfg.Logger.Info("migrate: moved", "subscription", before.String(), "websocket", rec.WebsocketID)
	}
	return rec, errors.Join(errs...)
}
