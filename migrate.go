package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/migrate"
	"github.com/urfave/cli/v2"
)

func migrateCommand() *cli.Command {
	return &cli.Command{
		Name:  "migrate",
		Usage: "move a webhook's subscriptions to a websocket with the same secret (reversible with --rollback)",
		UsageText: "dialpad-tunnel migrate --from-webhook 1234 --dry-run\n" +
			"dialpad-tunnel migrate --from-webhook 1234\n" +
			"dialpad-tunnel migrate --rollback",
		Flags: append([]cli.Flag{
			&cli.Int64Flag{Name: "from-webhook", Usage: "id of the webhook whose subscriptions move"},
			&cli.Int64Flag{Name: "websocket-id", Usage: "reuse this websocket (it must have the webhook's secret); default: one with the same secret, else a new one"},
			&cli.BoolFlag{Name: "rollback", Usage: "point the subscriptions of the rollback record back at the webhook"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print what would change, change nothing"},
			&cli.StringFlag{Name: "record", Usage: "rollback record file (default $XDG_STATE_HOME/dialpad-tunnel/migration.json)"},
		}, apiFlags...),
		Action: func(c *cli.Context) error {
			if err := checkNotEmpty(c, migrateNotEmpty...); err != nil {
				return err
			}
			recordPath, err := stateFile(c.String("record"), "migration.json")
			if err != nil {
				return err
			}
			client, _, err := newClient(c)
			if err != nil {
				return err
			}
			m, err := migrate.New(migrate.Config{Client: client})
			if err != nil {
				return err
			}
			switch {
			case c.Bool("rollback") && c.IsSet("from-webhook"):
				return errors.New("migrate: pass --from-webhook or --rollback, not both")
			case c.Bool("rollback"):
				return withFix(runRollback(c, m, recordPath))
			case c.Int64("from-webhook") <= 0:
				return errors.New("migrate: pass --from-webhook ID (see `webhooks list`), or --rollback")
			}
			return withFix(runMigrate(c, m, recordPath))
		},
	}
}

func runMigrate(c *cli.Context, m *migrate.Migrator, recordPath string) error {
	if _, err := os.Stat(recordPath); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("migrate: a rollback record exists at %s: run `migrate --rollback` first, or pass another --record", recordPath)
	}
	p, err := m.Plan(c.Context, dialpad.ID(c.Int64("from-webhook")), dialpad.ID(c.Int64("websocket-id")))
	if err != nil {
		return err
	}
	w := c.App.Writer
	printMigration(w, p)
	if len(p.Subscriptions) == 0 {
		// An error, dry run or not: the user named a webhook to move, and
		// nothing moved (often the wrong id); a script must not go on to
		// listen on a websocket that does not exist.
		return nothingToMigrate(p)
	}
	if c.Bool("dry-run") {
		fmt.Fprintln(w, "dry run: nothing changed")
		return nil
	}
	rec, err := m.Apply(c.Context, p, func(r migrate.Record) error { return migrate.SaveRecord(recordPath, r) })
	if rec.WebsocketID != 0 {
		fmt.Fprintf(w, "rollback record: %s (undo with `dialpad-tunnel migrate --rollback`)\n", recordPath)
	}
	if err != nil {
		return err
	}
	next := append(append([]string{"dialpad-tunnel listen --websocket-id " + rec.WebsocketID.String()}, apiChoice(c)...), "--forward-to <your handler's URL>")
	fmt.Fprintf(w, "moved %d subscription(s) to websocket %s\nnow run: %s\n", len(rec.Subscriptions), rec.WebsocketID, strings.Join(next, " "))
	return nil
}

// nothingToMigrate is the error of a migration of a webhook no
// subscription delivers to, with the hint that fits.
func nothingToMigrate(p migrate.Plan) error {
	hint := "check the id with `webhooks list` and `subscriptions list`"
	if len(p.Unlisted) > 0 {
		hint = "some types could not be listed (see the warnings): use an API key that can list them"
	}
	return fmt.Errorf("migrate: no subscription delivers to webhook %s: %w, nothing changed (%s)", p.WebhookID, migrate.ErrNothingToMigrate, hint)
}

func printMigration(w io.Writer, p migrate.Plan) {
	signed := "unsigned"
	if p.Signed {
		signed = "signed"
	}
	fmt.Fprintf(w, "migrate webhook %s (%s, %s) to a websocket:\n", p.WebhookID, redactedHookURL(p.HookURL), signed)
	switch {
	case len(p.Subscriptions) == 0: // nothing is created or reused
	case p.WebsocketID == 0 && p.Signed:
		fmt.Fprintf(w, "  create   websocket with the webhook's secret\n")
	case p.WebsocketID == 0:
		fmt.Fprintf(w, "  create   websocket, unsigned like the webhook (events arrive as plain JSON)\n")
	case p.Signed:
		fmt.Fprintf(w, "  reuse    websocket %s (same secret)\n", p.WebsocketID)
	default:
		fmt.Fprintf(w, "  reuse    websocket %s (unsigned, like the webhook)\n", p.WebsocketID)
	}
	to := "the new websocket"
	if p.WebsocketID != 0 {
		to = "websocket " + p.WebsocketID.String()
	}
	for _, s := range p.Subscriptions {
		fmt.Fprintf(w, "  update   %s: endpoint webhook %s → %s\n", s, s.EndpointID, to)
	}
	if len(p.Subscriptions) == 0 {
		fmt.Fprintln(w, "  (no subscription delivers to this webhook)")
	}
	for _, typ := range dialpad.SubscriptionTypes() {
		err, ok := p.Unlisted[typ]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "  warning  %s subscriptions not checked, they stay on the webhook: %v\n", typ, err)
	}
}

func runRollback(c *cli.Context, m *migrate.Migrator, recordPath string) error {
	rec, err := migrate.LoadRecord(recordPath)
	if errors.Is(err, fs.ErrNotExist) {
		if old, oldErr := migrate.LoadRecord(recordPath + ".rolled-back"); oldErr == nil {
			return fmt.Errorf("migrate: the migration of webhook %s was already rolled back (its record is %s.rolled-back): nothing to undo", old.WebhookID, recordPath)
		}
		return fmt.Errorf("migrate: no rollback record at %s: nothing to roll back (pass the --record a migrate wrote)", recordPath)
	}
	if err != nil {
		return err
	}
	w := c.App.Writer
	fmt.Fprintf(w, "roll back the migration of webhook %s (record %s, %s):\n", rec.WebhookID, recordPath, rec.CreatedAt.Format(time.RFC3339))
	for _, s := range rec.Subscriptions {
		fmt.Fprintf(w, "  restore  %s: endpoint → webhook %s\n", s, s.EndpointID)
	}
	if rec.WebsocketCreated {
		fmt.Fprintf(w, "  delete   websocket %s (created by migrate), once nothing uses it\n", rec.WebsocketID)
	}
	if c.Bool("dry-run") {
		fmt.Fprintln(w, "dry run: nothing changed")
		return nil
	}
	res, err := m.Rollback(c.Context, rec)
	if err != nil {
		return fmt.Errorf("%w\n  the record is kept at %s: fix the cause and run `migrate --rollback` again", err, recordPath)
	}
	fmt.Fprintf(w, "restored %d subscription(s); all %d match the record\n", len(res.Restored), len(rec.Subscriptions))
	switch {
	case res.WebsocketDeleted:
		fmt.Fprintf(w, "deleted websocket %s\n", rec.WebsocketID)
	case res.KeptBecause != "":
		fmt.Fprintf(w, "kept websocket %s: %s\n", rec.WebsocketID, res.KeptBecause)
	}
	done := recordPath + ".rolled-back"
	if err := os.Rename(recordPath, done); err != nil {
		return fmt.Errorf("migrate: rolled back, but could not retire the record: %w", err)
	}
	fmt.Fprintf(w, "record moved to %s\n", done)
	return nil
}
