package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/atomicfile"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"

	"github.com/dialpad-tunnel/dialpad-tunnel/console"
)

// createdEntry names what one `listen --create` run made, on one API base.
// It is written before each create request and again once its answer
// came, so a run stopped in between leaves an entry whose Creating says
// what Dialpad may have made that no record names.
type createdEntry struct {
	APIBase       string       `json:"api_base"`
	Started       time.Time    `json:"started,omitzero"` // when the run began creating
	Websocket     dialpad.ID   `json:"websocket"`        // 0 until Dialpad answered
	Subscriptions []createdSub `json:"subscriptions"`
	// Creating is the create asked of Dialpad and not answered yet:
	// "websocket", or a subscription's type. Empty once answered, and
	// after a refusal (a 4xx answer: nothing was made).
	Creating string `json:"creating,omitempty"`
}

type createdSub struct {
	Type dialpad.SubscriptionType `json:"type"`
	ID   dialpad.ID               `json:"id"`
}

// createdRecord is the file beside a --create run's spool naming what
// --create runs made on it and did not delete yet: written (atomically,
// synced) while the run holds the spool's lock, before each create request
// and once each answer came, and emptied once it has deleted what it made.
// A --create --no-spool run keeps one of its own (noSpoolRecord). A run that finds an entry in
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

func entryOf(apiBase string, started time.Time, cr created) createdEntry {
	e := createdEntry{APIBase: apiBase, Started: started, Websocket: cr.websocket, Creating: cr.creating}
	for _, s := range cr.subscriptions {
		e.Subscriptions = append(e.Subscriptions, createdSub{s.typ, s.sub.ID})
	}
	return e
}

// tookEvents reports whether what e names may have taken events once its
// run was gone: a subscription, or one whose create was not answered. A
// websocket alone takes none.
func (e createdEntry) tookEvents() bool {
	return len(e.Subscriptions) > 0 || e.Creating != "" && e.Creating != "websocket"
}

func (e createdEntry) created() created {
	cr := created{websocket: e.Websocket, creating: e.Creating}
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

// unreadableRecordNote says, of a --create record at path that cannot be
// read (damaged, or of another user), what it may have named and how to
// find and delete that (apiFlags: the run's --env and --api-base), then to
// remove the file (or make it readable): nothing deletes it from here.
func unreadableRecordNote(path string, apiFlags []string) string {
	return "that file names what earlier `listen --create` runs made on Dialpad and did not delete; it may still be there, taking events no one reads: " +
		"find it with " + commandLine(apiFlags, "websockets", "list") + " and " + commandLine(apiFlags, "subscriptions", "list") +
		" (the file may still show the ids), delete what no running listen uses with " +
		commandLine(apiFlags, "subscriptions", "delete", "--type", "TYPE", "ID") + " and " + commandLine(apiFlags, "websockets", "delete", "ID") +
		", then remove " + console.ShellWord(path) + " (or, if it is another user's, make it readable to this one)"
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

// deleteCommands are the commands that delete cr, with apiFlags.
func deleteCommands(cr created, apiFlags []string) string {
	var commands []string
	for _, s := range cr.subscriptions {
		commands = append(commands, commandLine(apiFlags, "subscriptions", "delete", "--type", string(s.typ), s.sub.ID.String()))
	}
	if cr.websocket != 0 {
		commands = append(commands, commandLine(apiFlags, "websockets", "delete", cr.websocket.String()))
	}
	return strings.Join(commands, " and ")
}

// unansweredNote says, of a run stopped (or failed) while Dialpad was
// creating cr.creating, before its answer, what may exist on Dialpad that
// no record names, with the commands that find and delete it (apiFlags:
// the API it is on). started is when that run began creating, if known.
func unansweredNote(cr created, started time.Time, apiFlags []string) string {
	// Dialpad shows no creation time: the time only says when to look.
	made := ""
	if !started.IsZero() {
		made = "; the run began creating at " + started.Local().Format(time.RFC3339)
	}
	if cr.creating == "websocket" {
		return "a websocket may exist on Dialpad that no record names (the run was stopped while Dialpad created it, before the answer); " +
			"find it with " + commandLine(apiFlags, "websockets", "list") + " (one that no subscription uses: see " +
			commandLine(apiFlags, "subscriptions", "list") + made + ") and delete it with " + commandLine(apiFlags, "websockets", "delete", "ID")
	}
	typ := console.ShellWord(cr.creating)
	return "a subscription of type " + cr.creating + " may exist on Dialpad that no record names (the run was stopped while Dialpad created it, before the answer), " +
		"taking events to websocket " + cr.websocket.String() + " that no one reads; find it with " +
		commandLine(apiFlags, "subscriptions", "list", "--type", typ) + " (one on websocket " + cr.websocket.String() +
		", if still there once that websocket is deleted" + made + ") and delete it with " + commandLine(apiFlags, "subscriptions", "delete", "--type", typ, "ID")
}

// commandLine is one dialpad-tunnel command line with apiFlags, quoted
// in backticks for a log line or a message.
func commandLine(apiFlags []string, words ...string) string {
	return "`" + strings.Join(append(append([]string{"dialpad-tunnel"}, words...), apiFlags...), " ") + "`"
}
