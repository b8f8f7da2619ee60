package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/filelock"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// otherCreateSpool is the default spool of `listen --create` runs with
// other --events than this run's, on the same API host: its record names
// what a run on it made and did not delete.
type otherCreateSpool struct {
	base   string   // its base spool file
	record string   // the record beside it
	types  []string // the --events of its runs, from its name
}

// otherCreateSpools lists the records of the default --create spools of
// apiBase's host in the state directory, but own (this run's record).
func otherCreateSpools(apiBase, own string) []otherCreateSpool {
	dir, err := stateFile("", "spool")
	if err != nil {
		return nil
	}
	// Host names are made of [A-Za-z0-9._-] only: nothing to escape.
	prefix := spoolName(apiBase, nil) + "-create-"
	paths, _ := filepath.Glob(filepath.Join(dir, prefix+"*.created.json"))
	var out []otherCreateSpool
	for _, path := range paths {
		if filepath.Clean(path) == filepath.Clean(own) {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(path), ".created.json")
		// createSpoolName's "+" is "-" in the file name.
		types := strings.Split(strings.TrimPrefix(name, prefix), "-")
		if !allTypes(types) {
			continue // another host's, whose name starts as this one's
		}
		out = append(out, otherCreateSpool{base: strings.TrimSuffix(path, ".created.json") + spoolExt, record: path, types: types})
	}
	return out
}

func allTypes(types []string) bool {
	for _, t := range types {
		if !slices.Contains(dialpad.SubscriptionTypes(), dialpad.SubscriptionType(t)) {
			return false
		}
	}
	return len(types) > 0
}

// files are the spool files of o that exist: its base and route files.
func (o otherCreateSpool) files() []string {
	routes, _ := routeFiles(o.base)
	var out []string
	if _, err := os.Stat(o.base); err == nil {
		out = append(out, o.base)
	}
	for _, r := range routes {
		out = append(out, r.Path)
	}
	return out
}

// hold takes the lock of each spool file of o (spool.Hold), as a run
// starting on it does. Its .created.lock already tells a live run of this
// version; a live run of an earlier version holds only its spool files.
// ok is false when a listen holds one of them (its record is left alone)
// or one cannot be locked; release lets go of those taken.
func (o otherCreateSpool) hold() (release func(), ok bool) {
	var files []*os.File
	release = func() {
		for _, f := range files {
			f.Close()
		}
	}
	for _, path := range o.files() {
		f, err := spool.Hold(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			release()
			return func() {}, false
		}
		files = append(files, f)
	}
	return release, true
}

// lastRun is the last sign of life of o's runs: its files' latest
// modification time, as queues.lastRun reads it.
func (o otherCreateSpool) lastRun() time.Time {
	var last time.Time
	for _, path := range o.files() {
		if fi, err := os.Stat(path); err == nil && fi.ModTime().After(last) {
			last = fi.ModTime()
		}
	}
	return last
}

// claimOthers deletes what crashed runs on the other default --create
// spools of this API host left on r's API base (own: this run's record),
// which takes events of their types that no one reads, and warns of the
// window those events were missed in: no gap of this run's, as they are
// not of its spool. A record whose lock (.created.lock) or spool files a
// process holds is left alone, and so are entries of another API base.
// Those locks are held only while the record is read, and again while it
// is rewritten (claimOther), never across a delete: a run starting on
// that spool meanwhile does not wait for Dialpad.
func (r *createRecorder) claimOthers(ctx context.Context, own string) {
	if !filelock.Supported { // a live run's spool would look crashed
		return
	}
	for _, o := range otherCreateSpools(r.apiBase, own) {
		rec, err := readCreatedRecord(o.record)
		if err != nil {
			// Its own next run refuses to start, with the same advice.
			r.log.Warn("the record of another `listen --create` spool cannot be read: what it names is not deleted; "+unreadableRecordNote(o.record, r.apiFlags), "error", err.Error())
			continue
		}
		if !slices.ContainsFunc(rec.Made, r.ours) {
			continue // nothing of this API base
		}
		r.claimOther(ctx, o)
	}
}

// ours reports whether e was made on r's API base.
func (r *createRecorder) ours(e createdEntry) bool { return e.APIBase == r.apiBase }

// lock takes the lock of o's record and of its spool files, without
// waiting; ok is false when a process holds one of them: a run on that
// spool holds its record's lock from before it reads the record to after
// its last write, clean-up or --keep included (a live run, or another
// run deleting its leftovers), and a live run of an earlier version holds
// its spool files. release lets go of them.
func (o otherCreateSpool) lock() (release func(), ok bool) {
	lock, ok := tryLockCreated(o.record)
	if !ok {
		return func() {}, false
	}
	files, ok := o.hold()
	if !ok {
		lock.Close()
		return func() {}, false
	}
	return func() { files(); lock.Close() }, true
}

// claimOther is claimOthers for one spool. Its entries of r's API base are
// read with o locked; each is deleted with o free; then, with o locked
// again, those deleted are dropped from the record as it is then. A run
// that took o meanwhile finds them in its record: it deletes them again
// (already gone: no error) and warns of its crash itself.
func (r *createRecorder) claimOther(ctx context.Context, o otherCreateSpool) {
	release, ok := o.lock()
	if !ok {
		return
	}
	rec, err := readCreatedRecord(o.record)
	lastRun := o.lastRun()
	release()
	if err != nil {
		r.log.Warn("the record of another `listen --create` spool cannot be read: what it names is not deleted; "+unreadableRecordNote(o.record, r.apiFlags), "error", err.Error())
		return
	}
	events := strings.Join(o.types, ",")
	run := "`listen --create --events " + events + "`"
	var deleted []createdEntry
	for _, e := range rec.Made {
		if !r.ours(e) || !r.settle(ctx, e, "with --events "+events+" (another spool)") {
			continue
		}
		deleted = append(deleted, e)
		if e.tookEvents() {
			from := later(lastRun, e.Started)
			r.log.Warn("an earlier "+run+" run crashed (or its clean-up failed); its websocket and subscriptions were deleted; "+
				strings.Join(o.types, " and ")+" events Dialpad sent between "+from.Local().Format(time.RFC3339)+" and now were missed (they were that spool's runs' to deliver, not this run's)",
				"from", from, "ids", e.created().String(), "events", events, "spool", o.base)
		}
	}
	if len(deleted) > 0 {
		r.dropFrom(o, deleted)
	}
}

// dropFrom rewrites the record of o without the entries deleted, unless a
// process holds o: that run deletes them again.
func (r *createRecorder) dropFrom(o otherCreateSpool, deleted []createdEntry) {
	release, ok := o.lock()
	if !ok {
		return
	}
	defer release()
	rec, err := readCreatedRecord(o.record)
	if err != nil {
		return // warned of by this spool's next run
	}
	n := len(rec.Made)
	kept := slices.DeleteFunc(rec.Made, func(e createdEntry) bool {
		return slices.ContainsFunc(deleted, func(d createdEntry) bool { return reflect.DeepEqual(d, e) })
	})
	if len(kept) == n {
		return // cleared meanwhile by that spool's own run
	}
	if err := writeCreatedRecord(o.record, createdRecord{Made: kept}); err != nil {
		r.log.Warn("what another `listen --create` spool's record names was deleted, but the record could not be rewritten: that spool's next run deletes it again (already gone: no error) and warns of a crash", "error", err.Error())
	}
}
