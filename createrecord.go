package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/dialpad-tunnel/dialpad-tunnel/atomicfile"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

// createdEntry names what one `listen --create` run made, on one API base.
type createdEntry struct {
	APIBase       string       `json:"api_base"`
	Websocket     dialpad.ID   `json:"websocket"`
	Subscriptions []createdSub `json:"subscriptions"`
}

type createdSub struct {
	Type dialpad.SubscriptionType `json:"type"`
	ID   dialpad.ID               `json:"id"`
}

// createdRecord is the file beside a --create run's spool naming what
// --create runs made on it and did not delete yet: written (atomically,
// synced) while the run holds the spool's lock, before it listens, and
// emptied once it has deleted what it made. A run that finds an entry in
// it knows an earlier run crashed or failed to clean up: what it made
// stayed on Dialpad, and took the events sent since.
type createdRecord struct {
	Made []createdEntry `json:"made"`
}

// createdRecordPath is the record of the spool whose base file is base.
// It does not end in the spool extension, so no spool lookup takes it.
func createdRecordPath(base string) string {
	return strings.TrimSuffix(base, spoolExt) + ".created.json"
}

func entryOf(apiBase string, cr created) createdEntry {
	e := createdEntry{APIBase: apiBase, Websocket: cr.websocket}
	for _, s := range cr.subscriptions {
		e.Subscriptions = append(e.Subscriptions, createdSub{s.typ, s.sub.ID})
	}
	return e
}

func (e createdEntry) created() created {
	cr := created{websocket: e.Websocket}
	for _, s := range e.Subscriptions {
		cr.subscriptions = append(cr.subscriptions, typedSub{s.Type, dialpad.Subscription{ID: s.ID}})
	}
	return cr
}

// readCreatedRecord reads the record at path; a missing file is an empty record.
func readCreatedRecord(path string) (createdRecord, error) {
	var rec createdRecord
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return rec, nil
	}
	if err != nil {
		return rec, fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("read %s: %w", path, err)
	}
	return rec, nil
}

// writeCreatedRecord writes rec at path, or removes the file when rec
// names nothing.
func writeCreatedRecord(path string, rec createdRecord) error {
	if len(rec.Made) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", path, err)
		}
		return nil
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, append(b, '\n')); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// createRecorder keeps a --create run's record.
type createRecorder struct {
	path     string // set once claim recorded this run's entry; "" with --no-spool
	client   *dialpad.Client
	apiBase  string
	apiFlags []string // the run's --env and --api-base, for the delete commands
	log      *slog.Logger
	others   []createdEntry // entries of earlier runs still on Dialpad
}

// claim runs once the spool whose record is at path is open and locked,
// before the agent listens. It calls create, records what it made at once
// (with the entries already there), then deletes what earlier runs on this
// spool left on the same API base: an entry it cannot delete is kept, and
// warned of with the commands that delete it. Entries of another API base
// are warned of and kept, never deleted from here (the key is this
// environment's). It reports whether an earlier run on this API base left
// something: the events sent since it stopped went there, a gap.
func (r *createRecorder) claim(ctx context.Context, path string, create func() (created, error)) (cr created, leftover bool, err error) {
	rec, err := readCreatedRecord(path)
	if err != nil {
		return cr, false, err // before anything is made
	}
	if cr, err = create(); err != nil {
		return cr, false, err
	}
	ours := entryOf(r.apiBase, cr)
	if err := writeCreatedRecord(path, createdRecord{Made: append(slices.Clone(rec.Made), ours)}); err != nil {
		return cr, false, err
	}
	r.path = path
	for _, e := range rec.Made {
		if e.APIBase != r.apiBase {
			r.log.Warn("an earlier `listen --create` run on this spool, on another API base, did not delete what it made: events Dialpad sent to it since that run stopped were missed; it is not deleted from here",
				"api_base", e.APIBase, "ids", e.created().String(), "delete_with", deleteCommands(e.created(), []string{"--api-base " + shellQuote(e.APIBase)}))
			r.others = append(r.others, e)
			continue
		}
		leftover = true
		r.log.Warn("an earlier `listen --create` run on this spool did not delete what it made (it crashed, or its clean-up failed): deleting it now",
			"ids", e.created().String())
		if err := cleanup(ctx, r.client, e.created(), leftInSpool{}, r.apiFlags, r.log); err != nil {
			r.log.Warn(err.Error())
			r.others = append(r.others, e)
		}
	}
	if len(r.others) < len(rec.Made) {
		err = writeCreatedRecord(path, createdRecord{Made: append(slices.Clone(r.others), ours)})
	}
	return cr, leftover, err
}

// release rewrites the record without this run's entry, once it was
// deleted (or kept with --keep, on purpose).
func (r *createRecorder) release() error {
	if r.path == "" {
		return nil
	}
	return writeCreatedRecord(r.path, createdRecord{Made: r.others})
}

// deleteCommands are the commands that delete cr, with apiFlags.
func deleteCommands(cr created, apiFlags []string) string {
	var commands []string
	for _, s := range cr.subscriptions {
		commands = append(commands, commandLine(apiFlags, "subscriptions", "delete", "--type", string(s.typ), s.sub.ID.String()))
	}
	commands = append(commands, commandLine(apiFlags, "websockets", "delete", cr.websocket.String()))
	return strings.Join(commands, " and ")
}

// commandLine is one dialpad-tunnel command line with apiFlags, quoted
// in backticks for a log line or a message.
func commandLine(apiFlags []string, words ...string) string {
	return "`" + strings.Join(append(append([]string{"dialpad-tunnel"}, words...), apiFlags...), " ") + "`"
}
