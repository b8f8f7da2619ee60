package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/migrate"
	"github.com/urfave/cli/v2"

	"github.com/dialpad-tunnel/dialpad-tunnel/console"
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
			&cli.StringFlag{Name: "secret", Usage: "the webhook's signing secret, if Dialpad does not return it in full (the plan says whether what it returned differs); never printed"},
			&cli.StringFlag{Name: "record", Usage: "rollback record file (default $XDG_STATE_HOME/dialpad-tunnel/migration.json)"},
		}, apiFlags()...),
		Action: func(c *cli.Context) error {
			if err := checkNotEmpty(c, migrateNotEmpty...); err != nil {
				return err
			}
			recordPath, err := stateFile(c.String("record"), "migration.json")
			if err != nil {
				return err
			}
			client, cfg, err := newClient(c)
			if err != nil {
				return err
			}
			if c.IsSet("secret") {
				switch secret := c.String("secret"); {
				case c.Bool("rollback"):
					return errors.New("migrate: --secret is for --from-webhook; --rollback changes no secret: drop --secret")
				case secret == "":
					return errors.New("migrate: --secret is empty: leave it out to use the secret Dialpad returns for the webhook")
				case strings.ContainsAny(secret, "\r\n"):
					return errors.New("migrate: --secret has a line break in it (copied with its newline?): remove it; the secret is not shown")
				}
			}
			m, err := migrate.New(migrate.Config{Client: client, APIBase: cfg.BaseURL, Secret: c.String("secret"), SecretSet: c.IsSet("secret")})
			if err != nil {
				return err
			}
			switch {
			case c.Bool("rollback") && c.IsSet("from-webhook"):
				return errors.New("migrate: pass --from-webhook or --rollback, not both")
			case c.Bool("rollback") && c.IsSet("websocket-id"):
				// The record names the websocket: one given would be ignored.
				return errors.New("migrate: --websocket-id is for --from-webhook; --rollback takes the websocket from its record: drop --websocket-id")
			case c.IsSet("websocket-id") && c.Int64("websocket-id") <= 0:
				return fmt.Errorf("migrate: --websocket-id %d: want a positive id (see `websockets list`), or leave it out to reuse or create one", c.Int64("websocket-id"))
			case c.Bool("rollback"):
				return migrateFix(runRollback(c, m, recordPath), "it was deleted since the migration, or the record is not of this account")
			case c.Int64("from-webhook") <= 0:
				return errors.New("migrate: pass --from-webhook ID (see `webhooks list`), or --rollback")
			}
			return migrateFix(runMigrate(c, m, recordPath), "check the id with `webhooks list` (`websockets list` for --websocket-id), and --env or --api-base")
		},
	}
}

func runMigrate(c *cli.Context, m *migrate.Migrator, recordPath string) error {
	if !c.Bool("dry-run") { // held until the record's last write: two at once both created a websocket
		unlock, err := migrate.LockRecord(recordPath)
		if err != nil {
			return err
		}
		defer unlock()
	}
	if _, err := os.Stat(recordPath); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("migrate: a rollback record exists at %s: run `%s` first, or pass another --record", recordPath, rollbackLine(c))
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
	if errors.Is(err, migrate.ErrCreateRefused) {
		// The record saved before the create names nothing to undo.
		if rmErr := os.Remove(recordPath); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
			return fmt.Errorf("%w\n  remove the rollback record %s, which names nothing to undo: %v", err, recordPath, rmErr)
		}
		return err
	}
	if rec.WebsocketID != 0 || rec.CreateUnanswered() {
		fmt.Fprintf(w, "rollback record: %s (undo with `%s`)\n", recordPath, rollbackLine(c))
	}
	if err != nil && rec.CreateUnanswered() {
		return fmt.Errorf("%w\n  the rollback record %s says a websocket was being created: run `%s`, which says how to find it", err, recordPath, rollbackLine(c))
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
	case p.ReadBackDiffers:
		fmt.Fprintln(w, "  note     the secret Dialpad returned for the webhook differs from --secret (masked, or left out): --secret is used")
	case p.SecretGiven:
		fmt.Fprintln(w, "  note     --secret is the secret Dialpad returned for the webhook")
	}
	switch {
	case len(p.Subscriptions) == 0: // nothing is created or reused
	case p.WebsocketID == 0 && p.ReadBackDiffers:
		fmt.Fprintf(w, "  create   websocket with --secret\n")
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
	// The record itself, not a link to it: its lock and its retired name
	// go with the file (two rollbacks, through a link and the file's own
	// name, both ran; and the link, not the record, was retired).
	if real, err := filepath.EvalSymlinks(recordPath); err == nil {
		recordPath = real
	}
	if _, err := os.Lstat(recordPath); errors.Is(err, fs.ErrNotExist) {
		return noRecord(recordPath)
	}
	if !c.Bool("dry-run") { // a dry run writes nothing, not even the lock file
		unlock, err := migrate.LockRecord(recordPath)
		if err != nil {
			return err
		}
		defer unlock()
	}
	rec, err := migrate.LoadRecord(recordPath)
	if errors.Is(err, fs.ErrNotExist) { // retired by a rollback that ended since
		return noRecord(recordPath)
	}
	if err != nil {
		return err
	}
	if rec, err = checkRecordAPI(c, m, rec, recordPath); err != nil {
		return err
	}
	w := c.App.Writer
	printRollbackPlan(w, rec, recordPath)
	if c.Bool("dry-run") {
		fmt.Fprintln(w, "dry run: nothing changed")
		return nil
	}
	res, err := m.Rollback(c.Context, rec)
	printRollback(w, c, rec, res, err == nil)
	if err != nil && !res.Finished {
		again := "fix the cause and run `" + rollbackLine(c) + "` again"
		if len(res.Skipped) > 0 {
			again = "a subscription left as it is was re-pointed since the migration (or the record is not of this account): " +
				"move it back yourself if it should be, then run `" + rollbackLine(c) + "` again, or remove the record"
		}
		return fmt.Errorf("%w\n  the record is kept at %s: %s", err, recordPath, again)
	}
	done, rnErr := migrate.RetireRecord(recordPath)
	if rnErr != nil {
		return errors.Join(err, fmt.Errorf("migrate: rolled back, but could not retire the record: %w", rnErr))
	}
	if err != nil {
		// Finished: all that can be undone is; what is gone is for the user.
		return fmt.Errorf("%w\n  the record is moved to %s, as nothing more can be undone: make each gone subscription anew with the command printed for it (it gets a new id)", err, done)
	}
	fmt.Fprintf(w, "record moved to %s\n", done)
	return nil
}

// noRecord is the error of a rollback with no record at recordPath: it
// names the latest record a rollback retired there, if there is one.
func noRecord(recordPath string) error {
	if last := migrate.LastRetired(recordPath); last != "" {
		if old, err := migrate.LoadRecord(last); err == nil {
			return fmt.Errorf("migrate: the migration of webhook %s was already rolled back (its record is %s): nothing to undo", old.WebhookID, last)
		}
	}
	return fmt.Errorf("migrate: no rollback record at %s: nothing to roll back (pass the --record a migrate wrote)", recordPath)
}

// checkRecordAPI refuses a record of another API than the one the command
// talks to, naming both. A record written before records named their API
// is taken only when the API was chosen on purpose (--env or --api-base,
// as a flag or from the environment): the default, production, is
// exactly the silent choice that rolled back a record on the wrong
// account. That record is then saved with the API, unless in a dry run,
// so a run again needs no flag.
func checkRecordAPI(c *cli.Context, m *migrate.Migrator, rec migrate.Record, recordPath string) (migrate.Record, error) {
	err := m.CheckRecord(rec)
	switch {
	case err == nil:
		return rec, nil
	case !errors.Is(err, migrate.ErrNoAPIBase):
		return rec, fmt.Errorf("%w: roll it back there with `%s %s`, or pass another --record", err, rollbackWithRecord(c), apiFlagFor(rec.APIBase))
	case len(apiChoice(c)) == 0:
		return rec, fmt.Errorf("%w: pass the --env or --api-base the migration was made with (--env production for Dialpad itself), so that it is not rolled back on another account", err)
	}
	rec.APIBase = m.APIBase()
	if c.Bool("dry-run") {
		return rec, nil
	}
	if err := migrate.SaveRecord(recordPath, rec); err != nil {
		return rec, fmt.Errorf("migrate: rollback record %s: add the API: %w", recordPath, err)
	}
	return rec, nil
}

// apiFlagFor is the flag that selects the API base.
func apiFlagFor(base string) string {
	switch base {
	case dialpad.ProductionBase:
		return "--env production"
	case dialpad.SandboxBase:
		return "--env sandbox"
	}
	return "--api-base " + console.ShellWord(base)
}

// rollbackLine is the command that rolls back this command's migration:
// with its --record, --env and --api-base (never the key).
func rollbackLine(c *cli.Context) string {
	return strings.Join(append([]string{rollbackWithRecord(c)}, apiChoice(c)...), " ")
}

// rollbackWithRecord is `migrate --rollback` with the --record c was given.
func rollbackWithRecord(c *cli.Context) string {
	if c.IsSet("record") {
		return "dialpad-tunnel migrate --rollback --record " + console.ShellWord(c.String("record"))
	}
	return "dialpad-tunnel migrate --rollback"
}

// migrateFix is withFix with notFound as the hint for a missing object:
// withFix's suggests --type, which migrate has not.
func migrateFix(err error, notFound string) error {
	if dialpad.IsNotFound(err) {
		return fmt.Errorf("%w\n  no such object on this account: %s", err, notFound)
	}
	return withFix(err)
}
