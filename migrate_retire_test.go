package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
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
	want := "migrate: record " + record + ": another migrate is using it (a migration or a rollback: let it finish, then run this again)"
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

// TestMigrateWhileAnotherRuns: a second `migrate --from-webhook` with the
// same --record while the first is still planning (it waits for Dialpad's
// answer about the webhook, before it writes its record) changes nothing
// and says why; the first then finishes and its record names its
// websocket. Both ran: the second created a websocket and wrote its
// record, which the first then overwrote: the second's websocket was left
// on Dialpad, named by no record.
func TestMigrateWhileAnotherRuns(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	wh := srv.AddWebhook("https://example.com/hook", "sec")
	if _, err := srv.AddSubscription("sms", wh, dialpadtest.SubscriptionOptions{Direction: "all"}); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(t.TempDir(), "state", "m.json") // its folder is made by the lock
	held, release := srv.HoldNextAnswer("GET", "/api/v2/webhooks/"+strconv.FormatInt(wh, 10))
	defer release()
	first := make(chan error, 1)
	go func() {
		_, err := apiCmd(t, srv, "migrate", "--from-webhook", strconv.FormatInt(wh, 10), "--record", record)
		first <- err
	}()
	<-held
	n := len(srv.RESTCalls())
	out, err := apiCmd(t, srv, "migrate", "--from-webhook", strconv.FormatInt(wh, 10), "--record", record)
	want := "migrate: record " + record + ": another migrate is using it (a migration or a rollback: let it finish, then run this again)"
	if err == nil || err.Error() != want {
		t.Errorf("a second migration while the first runs: %v\n%s\nwant %q", err, out, want)
	}
	if calls := srv.RESTCalls()[n:]; len(calls) != 0 {
		t.Errorf("the refused migration made REST calls: %v", calls)
	}
	release()
	if err := <-first; err != nil {
		t.Fatalf("the first migration: %v", err)
	}
	rec, err := migrate.LoadRecord(record)
	if err != nil || rec.WebsocketID == 0 {
		t.Fatalf("the first migration's record: %+v, %v; want its websocket named", rec, err)
	}
}
