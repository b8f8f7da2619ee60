package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/golang-jwt/jwt/v5"
)

// webhookHandler is a handler written for a Dialpad webhook: it verifies
// the body as an HS256 JWT with the webhook's secret and reports each
// verified event's claims (or the error) on a channel.
func webhookHandler(t *testing.T, secret string) (*httptest.Server, <-chan jwt.MapClaims, <-chan error) {
	claims, errs := make(chan jwt.MapClaims, 16), make(chan error, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		tok, err := jwt.Parse(string(body), func(*jwt.Token) (any, error) { return []byte(secret), nil },
			jwt.WithValidMethods([]string{"HS256"}))
		if err != nil {
			errs <- err
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		claims <- tok.Claims.(jwt.MapClaims)
	}))
	t.Cleanup(srv.Close)
	return srv, claims, errs
}

// allSubscriptions lists every subscription of every type, as JSON without
// the endpoint objects' URLs (a websocket's URL is new on every read).
func allSubscriptions(t *testing.T, c *dialpad.Client) string {
	t.Helper()
	var all []typedSubscription
	for _, typ := range dialpad.SubscriptionTypes() {
		subs, err := c.ListSubscriptions(context.Background(), typ)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range subs {
			all = append(all, redactSubscription(typ, s, false))
		}
	}
	b, _ := json.MarshalIndent(all, "", " ")
	return string(b)
}

// TestMigrateThenRollback: migrate moves every subscription of the webhook
// (and only those) to a websocket with the webhook's secret; `listen` then
// delivers events the webhook's own handler verifies; rollback restores
// every subscription exactly and removes the websocket it made.
func TestMigrateThenRollback(t *testing.T) {
	const secret = "original-webhook-secret"
	srv := newFake(t, dialpadtest.Config{PageSize: 2})
	handler, claims, verifyErrs := webhookHandler(t, secret)
	wh := srv.AddWebhook(handler.URL, secret)
	other := srv.AddWebhook("https://example.com/other", "other-secret")
	srv.AddWebsocket("unrelated-secret")
	for _, s := range []struct {
		typ      string
		endpoint int64
		opts     dialpadtest.SubscriptionOptions
	}{
		{"call", wh, dialpadtest.SubscriptionOptions{CallStates: []string{"calling", "hangup"}, TargetType: "office", TargetID: 77, GroupCallsOnly: true}},
		{"call", other, dialpadtest.SubscriptionOptions{}},
		{"sms", wh, dialpadtest.SubscriptionOptions{Direction: "inbound", IncludeInternal: true, Status: true}},
		{"contact", wh, dialpadtest.SubscriptionOptions{ContactType: "local"}},
		{"agent_status", wh, dialpadtest.SubscriptionOptions{}},
		{"changelog", wh, dialpadtest.SubscriptionOptions{Disabled: true}},
		{"call", wh, dialpadtest.SubscriptionOptions{}},
	} {
		if _, err := srv.AddSubscription(s.typ, s.endpoint, s.opts); err != nil {
			t.Fatal(err)
		}
	}
	client := testClient(t, srv)
	before := allSubscriptions(t, client)
	record := filepath.Join(t.TempDir(), "migration.json")
	whArg := strconv.FormatInt(wh, 10)

	out := mustAPI(t, srv, "migrate", "--from-webhook", whArg, "--record", record, "--dry-run")
	mustContain(t, out, "create   websocket with the webhook's secret")
	mustContain(t, out, "dry run")
	if w := writes(srv, 0); len(w) != 0 {
		t.Fatalf("dry run wrote %v", w)
	}

	out = mustAPI(t, srv, "migrate", "--from-webhook", whArg, "--record", record)
	mustContain(t, out, "moved 6 subscription(s)")
	if fi, err := os.Stat(record); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("rollback record: %v (want mode 0600)", err)
	}
	if b, _ := os.ReadFile(record); strings.Contains(string(b), secret) {
		t.Error("the rollback record holds the secret")
	}
	wss, _ := client.ListWebsockets(context.Background())
	ws := wss[len(wss)-1]
	if ws.Secret() != secret {
		t.Fatalf("new websocket is not signed with the webhook's secret")
	}
	// The next command goes on with the API migrate used, not production.
	mustContain(t, out, "now run: dialpad-tunnel listen --websocket-id "+ws.ID.String()+" --api-base "+srv.URL()+" --forward-to <your handler's URL>\n")
	if _, err := apiCmd(t, srv, "migrate", "--from-webhook", whArg, "--record", record); err == nil {
		t.Error("a second migrate with a pending record should be refused")
	}

	r := start(t, listenArgs(srv, int64(ws.ID), handler.URL)...)
	r.waitConnected(t, srv, 1)
	ev := dialpadtest.NewGenerator(7).SMS()
	ev = []byte(`{"direction":"inbound",` + string(ev[1:]))
	if d := srv.Publish("sms", ev); d.Frames != 1 || d.Webhooks != 0 {
		t.Fatalf("publish after migrate: %+v, want one websocket frame and no webhook POST", d)
	}
	select {
	case c := <-claims:
		if c["direction"] != "inbound" {
			t.Errorf("verified claims %v", c)
		}
	case err := <-verifyErrs:
		t.Fatalf("the webhook's handler rejected the forwarded event: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no event reached the handler")
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("listen: %v", err)
	}

	out = mustAPI(t, srv, "migrate", "--rollback", "--record", record)
	mustContain(t, out, "restored 6 subscription(s)")
	mustContain(t, out, "deleted websocket "+ws.ID.String())
	if after := allSubscriptions(t, client); after != before {
		t.Fatalf("subscriptions after rollback differ:\nbefore %s\nafter  %s", before, after)
	}
	if _, err := os.Stat(record + ".rolled-back"); err != nil {
		t.Errorf("record not retired: %v", err)
	}
	n := len(srv.RESTCalls())
	_, err := apiCmd(t, srv, "migrate", "--rollback", "--record", record)
	if want := "migrate: the migration of webhook " + whArg + " was already rolled back (its record is " + record + ".rolled-back): nothing to undo"; err == nil || err.Error() != want {
		t.Errorf("a second rollback: error %v, want %q", err, want)
	}
	if len(srv.RESTCalls()) != n {
		t.Error("a second rollback made REST calls")
	}
	if d := srv.Publish("sms", ev); d.Webhooks != 1 {
		t.Errorf("after rollback the webhook got %d POSTs, want 1", d.Webhooks)
	}
}

// TestMigrateReusesAndRefuses: a websocket with the same secret is reused;
// a websocket with another secret, an unknown webhook and a missing record
// are refused with the operation named.
func TestMigrateReusesAndRefuses(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	wh := srv.AddWebhook("https://example.com/hook", "shared")
	same := srv.AddWebsocket("shared")
	otherWS := srv.AddWebsocket("different")
	if _, err := srv.AddSubscription("call", wh, dialpadtest.SubscriptionOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	whArg := strconv.FormatInt(wh, 10)
	out := mustAPI(t, srv, "migrate", "--from-webhook", whArg, "--record", filepath.Join(dir, "r.json"), "--dry-run")
	mustContain(t, out, "reuse    websocket "+strconv.FormatInt(same, 10))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--from-webhook", whArg, "--websocket-id", strconv.FormatInt(otherWS, 10), "--record", filepath.Join(dir, "a.json")}, "not signed with webhook"},
		{[]string{"--from-webhook", "4242", "--record", filepath.Join(dir, "b.json")}, "get webhook 4242: 404"},
		{[]string{"--rollback", "--record", filepath.Join(dir, "none.json")}, "migrate: no rollback record at " + filepath.Join(dir, "none.json") + ": nothing to roll back"},
		{[]string{"--record", filepath.Join(dir, "c.json")}, "--from-webhook"},
	} {
		if _, err := apiCmd(t, srv, "migrate", tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestMigrateNothingToMigrate: a webhook no subscription delivers to is
// refused with "nothing to migrate", dry run or not: no websocket, no
// rollback record, no listen line. An unsigned webhook's plan says the
// websocket is unsigned too.
func TestMigrateNothingToMigrate(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	empty := srv.AddWebhook("https://example.com/empty", "")
	unsigned := srv.AddWebhook("https://example.com/unsigned", "")
	if _, err := srv.AddSubscription("sms", unsigned, dialpadtest.SubscriptionOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	record := filepath.Join(dir, "migration.json")
	for _, dry := range []bool{true, false} {
		args := []string{"--from-webhook", strconv.FormatInt(empty, 10), "--record", record}
		if dry {
			args = append(args, "--dry-run")
		}
		out, err := apiCmd(t, srv, "migrate", args...)
		if want := "migrate: no subscription delivers to webhook " + strconv.FormatInt(empty, 10) + ": nothing to migrate, nothing changed"; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("dry run %v: error %v, want %q", dry, err, want)
		}
		mustContain(t, out, "(no subscription delivers to this webhook)")
		for _, not := range []string{"create", "reuse", "now run", "rollback record"} {
			if strings.Contains(out, not) {
				t.Errorf("dry run %v: output has %q:\n%s", dry, not, out)
			}
		}
	}
	if w := writes(srv, 0); len(w) != 0 {
		t.Errorf("nothing to migrate, yet it wrote %v", w)
	}
	if _, err := os.Stat(record); err == nil {
		t.Error("a rollback record was written")
	}

	out := mustAPI(t, srv, "migrate", "--from-webhook", strconv.FormatInt(unsigned, 10), "--record", record, "--dry-run")
	mustContain(t, out, "create   websocket, unsigned like the webhook (events arrive as plain JSON)\n")
	if strings.Contains(out, "secret") {
		t.Errorf("the plan of an unsigned webhook mentions a secret:\n%s", out)
	}
}

// TestMigrateSecretGiven: that Dialpad returns a webhook's secret in full is
// only inferred. With --secret, the websocket gets that secret even when
// the webhook reads as unsigned (its secret left out, or masked), and the
// plan says the two differ without showing either; a --secret that is
// empty, has a line break, or comes with --rollback is refused before any
// REST call.
func TestMigrateSecretGiven(t *testing.T) {
	const secret = "the-real-webhook-secret"
	srv := newFake(t, dialpadtest.Config{})
	wh := srv.AddWebhook("https://example.com/hook", "") // as read: no secret
	if _, err := srv.AddSubscription("call", wh, dialpadtest.SubscriptionOptions{}); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(t.TempDir(), "migration.json")
	for _, tc := range []struct{ args, want string }{
		{"--secret=", "migrate: --secret is empty: leave it out to use the secret Dialpad returns for the webhook"},
		{"--secret a\nb", "migrate: --secret has a line break in it (copied with its newline?): remove it; the secret is not shown"},
		{"--rollback --secret x", "migrate: --secret is for --from-webhook; --rollback changes no secret: drop --secret"},
	} {
		args := append([]string{"--from-webhook", strconv.FormatInt(wh, 10), "--record", record}, strings.SplitN(tc.args, " ", 2)...)
		if strings.HasPrefix(tc.args, "--rollback") {
			args = []string{"--rollback", "--secret", "x", "--record", record}
		}
		if _, err := apiCmd(t, srv, "migrate", args...); err == nil || err.Error() != tc.want {
			t.Errorf("migrate %q: error %v, want %q", tc.args, err, tc.want)
		}
	}
	if calls := srv.RESTCalls(); len(calls) != 0 {
		t.Errorf("refused --secret values made REST calls: %v", calls)
	}

	out := mustAPI(t, srv, "migrate", "--from-webhook", strconv.FormatInt(wh, 10), "--record", record, "--secret", secret)
	mustContain(t, out, "note     the secret Dialpad returned for the webhook differs from --secret (masked, or left out): --secret is used\n")
	mustContain(t, out, "create   websocket with --secret\n") // it said "with the webhook's secret", after the note
	if strings.Contains(out, secret) {
		t.Errorf("migrate printed the secret:\n%s", out)
	}
	id, ok := strings.CutPrefix(out[strings.Index(out, "now run: "):], "now run: dialpad-tunnel listen --websocket-id ")
	if !ok {
		t.Fatalf("no listen line:\n%s", out)
	}
	n, err := strconv.ParseInt(strings.Fields(id)[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := testClient(t, srv).Websocket(context.Background(), dialpad.ID(n))
	if err != nil {
		t.Fatal(err)
	}
	if ws.Secret() != secret {
		t.Errorf("the new websocket is not signed with --secret")
	}
}
