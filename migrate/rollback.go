package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/dialpad-tunnel/dialpad-tunnel/atomicfile"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

// RollbackResult says what Rollback did.
type RollbackResult struct {
	// Restored are the subscriptions pointed back at the webhook; the others
	// of the record already were, or were skipped, or are gone.
	Restored []Snapshot
	// Skipped are the subscriptions that deliver neither to the websocket
	// the migration set nor to the webhook, with what they deliver to now:
	// someone re-pointed them since, or the record is not of this account.
	// Rollback leaves them as they are.
	Skipped []Skipped
	// Gone are the subscriptions Dialpad no longer has (404), while the
	// webhook is there: deleted since the migration (deleting a websocket
	// may delete the subscriptions on it). Only a new subscription, made by
	// hand, brings one back.
	Gone []Snapshot
	// WebsocketDeleted is true when the websocket the migration created was
	// deleted; WebsocketGone when it was no longer on Dialpad; KeptBecause
	// says why it was not deleted, when it was created.
	WebsocketDeleted, WebsocketGone bool
	KeptBecause                     string
	// CreateUnanswered: the record is of a run stopped while it created a
	// websocket (Record.CreateUnanswered); one may be left on Dialpad.
	CreateUnanswered bool
	// Finished is true when Rollback did all it can: every subscription of
	// the record is back on the webhook or Gone, and the websocket is dealt
	// with. The record is of no more use then, even if the error reports
	// gone subscriptions; otherwise running Rollback again may finish it.
	Finished bool
}

// Skipped is a subscription Rollback left as it is.
type Skipped struct {
	Snapshot
	// Now is what it delivers to, e.g. "websocket 1000".
	Now string
}

// ErrNoAPIBase is wrapped by CheckRecord for a record written before
// records named their API.
var ErrNoAPIBase = errors.New("the record does not say which API it is for")

// CheckRecord returns an error unless rec was written against m's API.
// A record without APIBase gets one wrapping ErrNoAPIBase: the caller may
// set rec.APIBase when the user has named the API the record is for.
func (m *Migrator) CheckRecord(rec Record) error {
	switch dialpad.CanonicalBase(rec.APIBase) {
	case m.cfg.APIBase:
		return nil
	case "":
		return fmt.Errorf("migrate: rollback record of webhook %s: %w (written by an older version)", rec.WebhookID, ErrNoAPIBase)
	}
	return fmt.Errorf("migrate: the rollback record of webhook %s belongs to %s, not %s", rec.WebhookID, rec.APIBase, m.cfg.APIBase)
}

// Rollback points back at the webhook every subscription of rec that still
// delivers to the websocket the migration set, and checks that each is
// then exactly as recorded. One that delivers to anything else is left as
// it is and reported (in the result and the error): Rollback never moves a
// subscription it did not move. One Dialpad no longer has is reported as
// gone, once the webhook is found (else the record may be of another
// account). A websocket the migration created is deleted once no
// subscription uses it, and only when every subscription of rec is back
// or gone. A record of another API is refused (see CheckRecord). Running
// it again after it was stopped midway finishes the job: what is back
// stays as it is.
func (m *Migrator) Rollback(ctx context.Context, rec Record) (RollbackResult, error) {
	var res RollbackResult
	if err := m.CheckRecord(rec); err != nil {
		return res, err
	}
	c := m.cfg.Client
	var errs []error
	for _, before := range rec.Subscriptions {
		cur, err := c.Subscription(ctx, before.Type, before.ID)
		if dialpad.IsNotFound(err) {
			res.Gone = append(res.Gone, before)
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("migrate: rollback: %w", err))
			continue
		}
		switch {
		case cur.Webhook != nil && cur.Webhook.ID == before.EndpointID && cur.Websocket == nil:
			// Already back (or never moved: Apply failed or stopped before it).
		case rec.WebsocketID != 0 && cur.Websocket != nil && cur.Websocket.ID == rec.WebsocketID:
			cur, err = c.UpdateSubscription(ctx, before.Type, before.ID, repoint(before, before.EndpointID))
			if dialpad.IsNotFound(err) { // deleted between the read and the update
				res.Gone = append(res.Gone, before)
				continue
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("migrate: rollback: %w", err))
				continue
			}
			res.Restored = append(res.Restored, before)
			m.cfg.Logger.Info("migrate: restored", "subscription", before.String(), "endpoint", before.EndpointID)
		default:
			now := cur.Endpoint()
			if now == "" {
				now = "no endpoint"
			}
			res.Skipped = append(res.Skipped, Skipped{Snapshot: before, Now: now})
			errs = append(errs, fmt.Errorf("migrate: rollback: %s delivers to %s, not to %s the migration set: left as it is", before, now, setBy(rec)))
			continue
		}
		if d := before.Differences(SnapshotOf(before.Type, cur)); len(d) > 0 {
			errs = append(errs, fmt.Errorf("migrate: rollback: %s differs from the record: %v", before, d))
		}
	}
	var gone error
	if len(res.Gone) > 0 {
		if _, err := c.Webhook(ctx, rec.WebhookID); err != nil {
			// Gone with its webhook: more likely another account's record.
			errs = append(errs, fmt.Errorf("migrate: rollback: %d subscription(s) of the record not found, and %w: is the record of this account (API key)?", len(res.Gone), err))
		} else {
			names := make([]string, len(res.Gone))
			for i, s := range res.Gone {
				names[i] = s.String()
			}
			gone = fmt.Errorf("migrate: rollback: %d subscription(s) of the record are gone from Dialpad (deleted since the migration) and could not be restored: %s",
				len(res.Gone), strings.Join(names, ", "))
		}
	}
	res.CreateUnanswered = rec.CreateUnanswered()
	if len(errs) > 0 {
		if rec.WebsocketCreated {
			res.KeptBecause = "not every subscription of the record is back on the webhook"
		}
		return res, errors.Join(append(errs, gone)...)
	}
	if rec.WebsocketCreated {
		users, err := m.websocketUsers(ctx, rec.WebsocketID)
		switch {
		case err != nil:
			res.KeptBecause = err.Error()
		case users > 0:
			res.KeptBecause = fmt.Sprintf("%d subscription(s) still use it", users)
		default:
			_, err := c.DeleteWebsocket(ctx, rec.WebsocketID)
			switch {
			case dialpad.IsNotFound(err):
				res.WebsocketGone = true
			case err != nil:
				res.KeptBecause = "it could not be deleted"
				return res, errors.Join(gone, fmt.Errorf("migrate: rollback: %w", err))
			default:
				res.WebsocketDeleted = true
			}
		}
	}
	res.Finished = true
	return res, gone
}

// setBy names what the migration of rec set its subscriptions to.
func setBy(rec Record) string {
	if rec.WebsocketID == 0 {
		return "the webhook (the migration moved none)"
	}
	return "websocket " + rec.WebsocketID.String()
}

// websocketUsers counts the subscriptions of every type that deliver to id.
func (m *Migrator) websocketUsers(ctx context.Context, id dialpad.ID) (int, error) {
	n := 0
	for _, typ := range dialpad.SubscriptionTypes() {
		subs, err := m.cfg.Client.ListSubscriptions(ctx, typ)
		if err != nil {
			return 0, fmt.Errorf("cannot check who uses it: %w", err)
		}
		for _, s := range subs {
			if s.Websocket != nil && s.Websocket.ID == id {
				n++
			}
		}
	}
	return n, nil
}

// LoadRecord reads a rollback record.
func LoadRecord(path string) (Record, error) {
	var rec Record
	b, err := os.ReadFile(path)
	if err != nil {
		return rec, fmt.Errorf("migrate: read rollback record: %w", err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("migrate: rollback record %s: %w", path, err)
	}
	if rec.Version != 1 || rec.WebhookID == 0 {
		return rec, fmt.Errorf("migrate: rollback record %s: not a version 1 record", path)
	}
	return rec, nil
}

// SaveRecord writes rec to path (mode 0600, directory 0700), replacing any
// file there atomically and durably (atomicfile).
func SaveRecord(path string, rec Record) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}
