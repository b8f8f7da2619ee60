package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// migrated is a fake with a webhook whose sms and call subscriptions were
// migrated by `migrate --record record`, which it returns with the output.
func migrated(t *testing.T) (srv *dialpadtest.Server, wh, sms, call int64, record, out string) {
	t.Helper()
	srv = newFake(t, dialpadtest.Config{})
	wh = srv.AddWebhook("https://example.com/hook", "sec")
	var err error
	if sms, err = srv.AddSubscription("sms", wh, dialpadtest.SubscriptionOptions{Direction: "all"}); err != nil {
		t.Fatal(err)
	}
	if call, err = srv.AddSubscription("call", wh, dialpadtest.SubscriptionOptions{}); err != nil {
		t.Fatal(err)
	}
	record = filepath.Join(t.TempDir(), "m.json")
	out = mustAPI(t, srv, "migrate", "--from-webhook", strconv.FormatInt(wh, 10), "--record", record)
	return srv, wh, sms, call, record, out
}

// TestMigrateRollbackHintWorksAsPrinted: the "undo with" command keeps the
// --record and --api-base of the migration, and run as printed (with the
// key, never printed) it rolls back (found by a black-box review: it
// dropped both, and pointed at production's default record).
func TestMigrateRollbackHintWorksAsPrinted(t *testing.T) {
	srv, _, _, _, record, out := migrated(t)
	m := regexp.MustCompile("undo with `([^`]*)`").FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no undo hint in:\n%s", out)
	}
	want := "dialpad-tunnel migrate --rollback --record " + record + " --api-base " + srv.URL()
	if m[1] != want {
		t.Errorf("undo hint %q, want %q", m[1], want)
	}
	args := append(strings.Fields(strings.TrimPrefix(m[1], "dialpad-tunnel ")), "--api-key", srv.APIKey())
	if out, err := runCmd(t, args...); err != nil || !strings.Contains(out, "restored 2 subscription(s)") {
		t.Errorf("the printed rollback: %v\n%s", err, out)
	}
}

// TestMigrateRollbackOfAnotherAPI: a record is rolled back only against the
// API it was made with; one from before records named their API only when
// the API is named on purpose, and it is then saved in the record (found
// by a black-box review: a record rolled back on another account moved
// its live subscription and deleted its websocket).
func TestMigrateRollbackOfAnotherAPI(t *testing.T) {
	srv, wh, _, _, record, _ := migrated(t)
	other := newFake(t, dialpadtest.Config{})
	b, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"api_base": "`+srv.URL()+`"`) {
		t.Fatalf("the record does not name its API:\n%s", b)
	}
	_, err = apiCmd(t, other, "migrate", "--rollback", "--record", record)
	want := "migrate: the rollback record of webhook " + strconv.FormatInt(wh, 10) + " belongs to " + srv.URL() + ", not " + other.URL() +
		": roll it back there with `dialpad-tunnel migrate --rollback --record " + record + " --api-base " + srv.URL() + "`, or pass another --record"
	if err == nil || err.Error() != want {
		t.Errorf("rollback on another API: %v\nwant %q", err, want)
	}
	if n := len(other.RESTCalls()); n != 0 {
		t.Errorf("rollback on another API made %d REST calls", n)
	}

	// A record from before api_base: refused with the default API...
	var rec map[string]any
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	delete(rec, "api_base")
	old, _ := json.Marshal(rec)
	if err := os.WriteFile(record, old, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"DIALPAD_ENV", "DIALPAD_API_BASE"} {
		t.Setenv(env, "")
		os.Unsetenv(env) // t.Setenv restores it at the end
	}
	_, err = runCmd(t, "migrate", "--rollback", "--record", record, "--api-key", "k")
	if err == nil || !strings.Contains(err.Error(), "does not say which API it is for") || !strings.Contains(err.Error(), "pass the --env or --api-base the migration was made with") {
		t.Errorf("an old record with the default API: %v", err)
	}
	// ... and rolled back where the user says, which the record then keeps.
	out := mustAPI(t, srv, "migrate", "--rollback", "--record", record, "--dry-run")
	mustContain(t, out, "dry run: nothing changed")
	if b, _ := os.ReadFile(record); strings.Contains(string(b), "api_base") {
		t.Error("a dry run wrote the record")
	}
	out = mustAPI(t, srv, "migrate", "--rollback", "--record", record)
	mustContain(t, out, "restored 2 subscription(s)")
	if b, _ := os.ReadFile(record + ".rolled-back"); !strings.Contains(string(b), `"api_base": "`+srv.URL()+`"`) {
		t.Errorf("the old record was not given its API:\n%s", b)
	}
}

// TestMigrateRollbackLeavesRePointed: a subscription re-pointed since the
// migration is left where it is and named, the others go back, and the
// websocket and the record are kept; exit non-zero.
func TestMigrateRollbackLeavesRePointed(t *testing.T) {
	srv, _, sms, _, record, _ := migrated(t)
	c := testClient(t, srv)
	live := dialpad.ID(srv.AddWebsocket("other"))
	ctx := context.Background()
	if _, err := c.UpdateSubscription(ctx, dialpad.SMS, dialpad.ID(sms), dialpad.SubscriptionRequest{EndpointID: &live}); err != nil {
		t.Fatal(err)
	}
	out, err := apiCmd(t, srv, "migrate", "--rollback", "--record", record)
	if err == nil || !strings.Contains(err.Error(), "sms subscription "+strconv.FormatInt(sms, 10)+" delivers to websocket "+live.String()) ||
		!strings.Contains(err.Error(), "left as it is") || !strings.Contains(err.Error(), "the record is kept at "+record) {
		t.Errorf("rollback with a re-pointed subscription: %v", err)
	}
	mustContain(t, out, "restored 1 subscription(s)")
	mustContain(t, out, "kept websocket")
	if s, _ := c.Subscription(ctx, dialpad.SMS, dialpad.ID(sms)); s.Endpoint() != "websocket "+live.String() {
		t.Errorf("the re-pointed subscription is now on %s", s.Endpoint())
	}
	if _, err := os.Stat(record); err != nil {
		t.Errorf("record: %v, want it kept", err)
	}
}

// TestMigrateUnknownWebhookHint: the fix for an unknown webhook fits
// migrate, which has no --type.
func TestMigrateUnknownWebhookHint(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	_, err := apiCmd(t, srv, "migrate", "--from-webhook", "99999", "--record", filepath.Join(t.TempDir(), "r.json"))
	if err == nil || strings.Contains(err.Error(), "--type") || !strings.Contains(err.Error(), "check the id with `webhooks list`") {
		t.Errorf("unknown webhook: %v", err)
	}
}

// TestMigrateWebsocketIDRefused: --websocket-id with --rollback (the record
// names the websocket) or not positive is refused before any REST call; it
// used to be ignored, or sent to Dialpad as it was.
func TestMigrateWebsocketIDRefused(t *testing.T) {
	srv, _ := fakeDialpad(t, dialpadtest.Config{}, "")
	record := filepath.Join(t.TempDir(), "migration.json")
	for _, tc := range []struct{ args, want string }{
		{"--rollback --websocket-id 5", "migrate: --websocket-id is for --from-webhook; --rollback takes the websocket from its record: drop --websocket-id"},
		{"--from-webhook 7 --websocket-id -3", "migrate: --websocket-id -3: want a positive id (see `websockets list`), or leave it out to reuse or create one"},
		{"--from-webhook 7 --websocket-id 0", "migrate: --websocket-id 0: want a positive id (see `websockets list`), or leave it out to reuse or create one"},
	} {
		_, err := apiCmd(t, srv, "migrate", append(strings.Fields(tc.args), "--record", record)...)
		if err == nil || err.Error() != tc.want {
			t.Errorf("migrate %s: error %v, want %q", tc.args, err, tc.want)
		}
	}
	if calls := srv.RESTCalls(); len(calls) != 0 {
		t.Errorf("refused migrations made REST calls: %v", calls)
	}
}

// TestMigrateSecondRollbackKeepsTheFirstRecord: a second migration with
// the same --record, rolled back too, retires its record as
// m.json.rolled-back.2 and says so; the first one's m.json.rolled-back is
// kept as it was (it was overwritten without a word), and a rollback
// after both names the latest.
func TestMigrateSecondRollbackKeepsTheFirstRecord(t *testing.T) {
	srv, wh, _, _, record, _ := migrated(t)
	mustContain(t, mustAPI(t, srv, "migrate", "--rollback", "--record", record), "record moved to "+record+".rolled-back\n")
	first, err := os.ReadFile(record + ".rolled-back")
	if err != nil {
		t.Fatal(err)
	}
	mustAPI(t, srv, "migrate", "--from-webhook", strconv.FormatInt(wh, 10), "--record", record)
	mustContain(t, mustAPI(t, srv, "migrate", "--rollback", "--record", record), "record moved to "+record+".rolled-back.2\n")
	if b, err := os.ReadFile(record + ".rolled-back"); err != nil || string(b) != string(first) {
		t.Errorf("the first rollback's record was changed: %v\n%s", err, b)
	}
	if _, err := os.Stat(record + ".rolled-back.2"); err != nil {
		t.Errorf("the second rollback's record: %v", err)
	}
	_, err = apiCmd(t, srv, "migrate", "--rollback", "--record", record)
	if err == nil || !strings.Contains(err.Error(), "already rolled back (its record is "+record+".rolled-back.2)") {
		t.Errorf("a third rollback: error %v, want the latest record named", err)
	}
}
