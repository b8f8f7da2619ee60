package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/migrate"
)

// TestMigrateRollbackWhileAnotherRuns: a rollback of a record another
// rollback is working on (held in its websocket delete) is refused at
// once, naming the record, and changes nothing; the first then finishes
// and retires the record (both ran: the second, done first, retired it,
// and the first failed to retire a record no longer there).
func TestMigrateRollbackWhileAnotherRuns(t *testing.T) {
	srv, _, _, _, record, _ := migrated(t)
	rec, err := migrate.LoadRecord(record)
	if err != nil {
		t.Fatal(err)
	}
	held, release := srv.HoldNextAnswer("DELETE", "/api/v2/websockets/"+rec.WebsocketID.String())
	defer release()
	type result struct {
		out string
		err error
	}
	first := make(chan result, 1)
	go func() {
		out, err := apiCmd(t, srv, "migrate", "--rollback", "--record", record)
		first <- result{out, err}
	}()
	<-held
	n := len(srv.RESTCalls())
	out, err := apiCmd(t, srv, "migrate", "--rollback", "--record", record)
	want := "migrate: rollback record " + record + ": another migrate --rollback is using it (let it finish: it retires the record, or says why it kept it)"
	if err == nil || err.Error() != want {
		t.Errorf("a second rollback while the first runs: %v\n%s\nwant %q", err, out, want)
	}
	// Through a link to the record, the same: the lock is the file's.
	link := filepath.Join(t.TempDir(), "via-link.json")
	if err := os.Symlink(record, link); err != nil {
		t.Fatal(err)
	}
	if out, err := apiCmd(t, srv, "migrate", "--rollback", "--record", link); err == nil || err.Error() != want {
		t.Errorf("a second rollback through a link while the first runs: %v\n%s\nwant %q", err, out, want)
	}
	if calls := srv.RESTCalls()[n:]; len(calls) != 0 {
		t.Errorf("the refused rollbacks made REST calls: %v", calls)
	}
	release()
	r := <-first
	if r.err != nil {
		t.Fatalf("the first rollback: %v\n%s", r.err, r.out)
	}
	mustContain(t, r.out, "record moved to "+record+".rolled-back\n")
	if _, err := os.Stat(record); !os.IsNotExist(err) {
		t.Errorf("the record after the rollback: %v, want it moved", err)
	}
}

// TestMigrateRetiredAfterAGap: with an earlier retired record removed
// (m.json.rolled-back gone, m.json.rolled-back.2 kept), a rollback
// retires its record after the highest, as m.json.rolled-back.3, and a
// rollback after it names that one (it took the free m.json.rolled-back,
// and then named .2, the older, as the latest).
func TestMigrateRetiredAfterAGap(t *testing.T) {
	srv, wh, _, _, record, _ := migrated(t)
	older, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(record+".rolled-back.2", older, 0o600); err != nil {
		t.Fatal(err)
	}
	mustContain(t, mustAPI(t, srv, "migrate", "--rollback", "--record", record), "record moved to "+record+".rolled-back.3\n")
	if b, err := os.ReadFile(record + ".rolled-back.2"); err != nil || string(b) != string(older) {
		t.Errorf("m.json.rolled-back.2 was changed: %v\n%s", err, b)
	}
	_, err = apiCmd(t, srv, "migrate", "--rollback", "--record", record)
	want := "migrate: the migration of webhook " + dialpad.ID(wh).String() + " was already rolled back (its record is " + record + ".rolled-back.3): nothing to undo"
	if err == nil || err.Error() != want {
		t.Errorf("a rollback after it: %v\nwant %q", err, want)
	}
	if _, err := os.Stat(record + ".rolled-back"); !os.IsNotExist(err) {
		t.Errorf("m.json.rolled-back: %v, want none made", err)
	}
}
