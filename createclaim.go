package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"

	"github.com/dialpad-tunnel/dialpad-tunnel/console"
)

// createRecorder keeps a --create run's record: beside its spool, or with
// --no-spool a file of its own in the state directory (noSpoolRecord).
type createRecorder struct {
	client   *dialpad.Client
	apiBase  string
	apiFlags []string // the run's --env and --api-base, for the delete commands
	log      *slog.Logger

	path    string         // the record this run's entry is written to; "" while none
	lock    *os.File       // the lock of path beside a spool (lockCreated), held until close
	own     *noSpoolRecord // with --no-spool: this run's own record, once made
	started time.Time      // when this run began creating
	others  []createdEntry // entries of earlier runs kept in path
	undone  []created      // earlier runs' leftovers not deleted, as claim was stopped
}

// note writes the record with this run's entry as cr says, before each
// create request and once its answer came (createForRun). Without a
// record (--no-spool with no state directory) it does nothing.
func (r *createRecorder) note(cr created) error {
	if r.path == "" {
		return nil
	}
	return writeCreatedRecord(r.path, createdRecord{Made: append(slices.Clone(r.others), entryOf(r.apiBase, r.started, cr))})
}

// claim runs once the spool is open and locked (path: the record beside
// it), or with --no-spool (path ""), before the agent listens. Beside a
// spool, it first takes the record's lock (lockCreated), which close lets
// go of, after the record's last write.
//
// Then it deletes what earlier --create runs left on the same API base:
// those of this spool's record, those of --no-spool runs no live run
// holds, and those of the other default --create spools of this API host
// (claimOthers: warned of, no gap of this run's). An entry it cannot
// delete is kept, and warned of with the commands that delete it; one
// stopped before a create's answer is warned of with the commands that
// find and delete what no record names. Entries of another API base in
// this spool's record are warned of and kept, never deleted from here
// (the key is this environment's). Those deletes end with ctx (Ctrl-C):
// claim then makes nothing, and its error names what is left, which the
// records keep for the next run.
//
// Last, it calls create, which records each step through note.
//
// downSince is when the events sent to earlier runs' leftovers may have
// begun to be missed (zero: none left): for this spool's record, the
// later of lastRun (the spool's last sign of life) and when that run
// began creating; for a --no-spool run's, its record's last heartbeat.
func (r *createRecorder) claim(ctx context.Context, path string, lastRun time.Time, create func(note func(created) error) (created, error)) (cr created, downSince time.Time, err error) {
	var earlier []createdEntry
	if path != "" {
		lock, err := lockCreated(ctx, path)
		if err != nil {
			return cr, downSince, err
		}
		r.lock = lock
		rec, err := readCreatedRecord(path)
		if err != nil {
			// Before anything is made: what it names would be left.
			return cr, downSince, fmt.Errorf("%w\n  %s", err, unreadableRecordNote(path, r.apiFlags))
		}
		earlier = rec.Made
		r.path, r.others = path, earlier
	} else if own, err := openNoSpoolRecord(r.apiBase); err != nil {
		r.log.Warn("--create --no-spool: no record can be kept of what this run makes, so a crash leaves it on Dialpad, taking events no one reads, and the next run neither deletes it nor logs the gap; find what is left with "+
			commandLine(r.apiFlags, "websockets", "list")+" and "+commandLine(r.apiFlags, "subscriptions", "list"), "reason", err.Error())
	} else {
		r.own, r.path = own, own.path
	}
	gap := func(t time.Time) {
		if !t.IsZero() && (downSince.IsZero() || t.Before(downSince)) {
			downSince = t
		}
	}
	var kept []createdEntry
	for _, e := range earlier {
		if e.APIBase != r.apiBase {
			r.log.Warn("an earlier `listen --create` run on this spool, on another API base, did not delete what it made: events Dialpad sent to it since that run stopped were missed; it is not deleted from here",
				"api_base", e.APIBase, "ids", e.created().String(), "delete_with", deleteCommands(e.created(), []string{"--api-base " + console.ShellWord(e.APIBase)}))
			if e.Creating != "" {
				r.log.Warn(unansweredNote(e.created(), e.Started, []string{"--api-base " + console.ShellWord(e.APIBase)}))
			}
			kept = append(kept, e)
			continue
		}
		if e.tookEvents() {
			gap(later(lastRun, e.Started))
		}
		if !r.settle(ctx, e, "on this spool") {
			kept = append(kept, e)
		}
	}
	for _, left := range crashedNoSpool(r.apiBase, r.path, r.log) {
		if left.entry.tookEvents() {
			gap(left.lastSeen)
		}
		left.done(r.settle(ctx, left.entry, "with --no-spool"))
	}
	r.claimOthers(ctx, path)
	r.others = kept
	if ctx.Err() != nil {
		// Kept in the records: the next run deletes it.
		return cr, downSince, errors.Join(r.stopped(ctx), r.release())
	}
	if len(kept) < len(earlier) {
		if err := writeCreatedRecord(path, createdRecord{Made: kept}); err != nil {
			return cr, downSince, err
		}
	}
	r.started = time.Now().UTC()
	if cr, err = create(r.note); err != nil {
		return cr, downSince, err
	}
	if r.own != nil {
		r.own.beat()
	}
	return cr, downSince, nil
}

// settle deletes what the earlier run of e left, and reports whether
// nothing of it is left to try again: what a create never answered is
// only warned of, with the commands that find and delete it. Once ctx is
// done (Ctrl-C), it deletes nothing more, and adds e to r.undone.
func (r *createRecorder) settle(ctx context.Context, e createdEntry, where string) bool {
	if e.Websocket == 0 { // stopped while its websocket was being created: nothing to delete
		r.log.Warn(unansweredNote(e.created(), e.Started, r.apiFlags))
		return true
	}
	if ctx.Err() != nil {
		r.undone = append(r.undone, e.created())
		return false
	}
	r.log.Warn("an earlier `listen --create` run "+where+" did not delete what it made (it crashed, or its clean-up failed): deleting it now",
		"ids", e.created().String())
	if e.Creating != "" {
		r.log.Warn(unansweredNote(e.created(), e.Started, r.apiFlags))
	}
	deleting, cancel := context.WithTimeout(ctx, cleanupTimeout)
	defer cancel()
	err := deleteCreated(deleting, r.client, e.created(), r.apiFlags)
	switch {
	case err == nil:
		r.log.Info("deleted what the earlier run left", "ids", e.created().String())
		return true
	case ctx.Err() != nil:
		r.undone = append(r.undone, e.created()) // claim's error names it
	default:
		r.log.Warn(err.Error())
	}
	return false
}

// stopped is claim's error when ctx ended (Ctrl-C) while it deleted what
// earlier runs left: what it did not delete, which their records keep.
func (r *createRecorder) stopped(ctx context.Context) error {
	if len(r.undone) == 0 {
		return fmt.Errorf("--create: stopped before this run made anything: %w", context.Cause(ctx))
	}
	var left, commands []string
	for _, cr := range r.undone {
		left = append(left, cr.String())
		commands = append(commands, deleteCommands(cr, r.apiFlags))
	}
	return fmt.Errorf("--create: stopped before this run made anything, while deleting what earlier `listen --create` runs left on Dialpad; not deleted: %s; their records keep it, so the next `listen --create` run on this API deletes it (or delete it now with %s): %w",
		strings.Join(left, "; "), strings.Join(commands, " and "), context.Cause(ctx))
}

// release rewrites the record without this run's entry, once it was
// deleted (or kept with --keep, on purpose).
func (r *createRecorder) release() error {
	if r.own != nil {
		err := r.own.remove()
		r.own, r.path = nil, ""
		return err
	}
	if r.path == "" {
		return nil
	}
	return writeCreatedRecord(r.path, createdRecord{Made: r.others})
}

// close stops the --no-spool record's heartbeat and lets go of it: kept
// (not released), it names what the next --create run on the API deletes.
// Beside a spool, it lets go of the record's lock: call it once the
// record was last written.
func (r *createRecorder) close() {
	if r.own != nil {
		r.own.close()
	}
	if r.lock != nil {
		r.lock.Close()
		r.lock = nil
	}
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
