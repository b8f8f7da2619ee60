package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

// RollbackResult says what Rollback did.
type RollbackResult struct {
	// Restored are the subscriptions pointed back at the webhook; the others
	// of the record already were.
	Restored []Snapshot
	// WebsocketDeleted is true when the websocket the migration created was
	// deleted; KeptBecause says why it was not, when it was created.
	WebsocketDeleted bool
	KeptBecause      string
}

// Rollback points every subscription of rec back at its original endpoint
// and checks that each is then exactly as recorded. A websocket the
// migration created is deleted once no subscription uses it.
func (m *Migrator) Rollback(ctx context.Context, rec Record) (RollbackResult, error) {
	c := m.cfg.Client
	var res RollbackResult
	var errs []error
	for _, before := range rec.Subscriptions {
		cur, err := c.Subscription(ctx, before.Type, before.ID)
		if err != nil {
			errs = append(errs, fmt.Errorf("migrate: rollback: %w", err))
			continue
		}
		if cur.EndpointID() != before.EndpointID {
			cur, err = c.UpdateSubscription(ctx, before.Type, before.ID, repoint(before, before.EndpointID))
			if err != nil {
				errs = append(errs, fmt.Errorf("migrate: rollback: %w", err))
				continue
			}
			res.Restored = append(res.Restored, before)
			m.cfg.Logger.Info("migrate: restored", "subscription", before.String(), "endpoint", before.EndpointID)
		}
		if d := before.Differences(SnapshotOf(before.Type, cur)); len(d) > 0 {
			errs = append(errs, fmt.Errorf("migrate: rollback: %s differs from the record: %v", before, d))
		}
	}
	if len(errs) > 0 || !rec.WebsocketCreated {
		return res, errors.Join(errs...)
	}
	users, err := m.websocketUsers(ctx, rec.WebsocketID)
	switch {
	case err != nil:
		res.KeptBecause = err.Error()
	case users > 0:
		res.KeptBecause = fmt.Sprintf("%d subscription(s) still use it", users)
	default:
		if _, err := c.DeleteWebsocket(ctx, rec.WebsocketID); err != nil && !dialpad.IsPermanent(err) {
			return res, fmt.Errorf("migrate: rollback: %w", err)
		}
		res.WebsocketDeleted = true
	}
	return res, nil
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
// file there atomically.
func SaveRecord(path string, rec Record) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
