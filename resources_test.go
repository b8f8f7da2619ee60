package main

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/urfave/cli/v2"
)

// newFake starts an empty fake Dialpad.
func newFake(t *testing.T, cfg dialpadtest.Config) *dialpadtest.Server {
	t.Helper()
	srv, err := dialpadtest.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// apiArgs are the flags that point a command at the fake.
func apiArgs(srv *dialpadtest.Server) []string {
	return []string{"--api-base", srv.URL(), "--api-key", srv.APIKey()}
}

// runCmd runs one short command to completion and returns its stdout.
func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut syncBuffer
	err := runArgs(context.Background(), &out, &errOut, append([]string{"dialpad-tunnel"}, args...))
	return out.String(), err
}

// apiCmd runs `words… --api-base … --api-key … rest…` against srv: the API
// flags go before the rest, which may end in an ID argument.
func apiCmd(t *testing.T, srv *dialpadtest.Server, words string, rest ...string) (string, error) {
	t.Helper()
	args := append(strings.Fields(words), apiArgs(srv)...)
	return runCmd(t, append(args, rest...)...)
}

// mustAPI is apiCmd that fails the test on an error.
func mustAPI(t *testing.T, srv *dialpadtest.Server, words string, rest ...string) string {
	t.Helper()
	out, err := apiCmd(t, srv, words, rest...)
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", words, rest, err, out)
	}
	return out
}

// testClient is a REST client to inspect the fake.
func testClient(t *testing.T, srv *dialpadtest.Server) *dialpad.Client {
	t.Helper()
	c, err := dialpad.New(dialpad.Config{BaseURL: srv.URL(), APIKey: srv.APIKey()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// calls counts the fake's REST calls with method and path since index from.
func calls(srv *dialpadtest.Server, from int, method, path string) int {
	n := 0
	for _, c := range srv.RESTCalls()[from:] {
		if c.Method == method && c.Path == path {
			n++
		}
	}
	return n
}

func TestWebsocketsCommands(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{PageSize: 2})
	for _, secret := range []string{"", "alpha-secret", "", "beta-secret", ""} {
		srv.AddWebsocket(secret)
	}
	out := mustAPI(t, srv, "websockets list")
	for _, id := range []string{"1000", "1001", "1002", "1003", "1004"} {
		mustContain(t, out, id)
	}
	if n := calls(srv, 0, "GET", "/api/v2/websockets"); n != 3 {
		t.Errorf("list made %d GETs for 5 websockets in pages of 2, want 3", n)
	}
	if strings.Contains(out, "alpha-secret") || strings.Contains(out, "/events/ey") {
		t.Errorf("table shows a secret or token:\n%s", out)
	}

	var listed []map[string]any
	out = mustAPI(t, srv, "websockets list", "--json")
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 5 {
		t.Fatalf("--json list: %v, %d items\n%s", err, len(listed), out)
	}
	if strings.Contains(out, "alpha-secret") || strings.Contains(out, "/events/ey") || !strings.Contains(out, "<redacted>") {
		t.Errorf("--json must redact secrets and URL tokens:\n%s", out)
	}
	out = mustAPI(t, srv, "websockets get", "--json", "--show-secrets", "1001")
	mustContain(t, out, "alpha-secret")
	mustContain(t, out, "/events/ey")

	out = mustAPI(t, srv, "websockets create", "--json", "--secret", "new-secret")
	var created dialpad.Websocket
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ID == 0 {
		t.Fatalf("create --json: %v\n%s", err, out)
	}
	if strings.Contains(out, "new-secret") {
		t.Errorf("create printed the secret:\n%s", out)
	}
	id := created.ID.String()
	mustAPI(t, srv, "websockets update", "--secret", "rotated", id)
	ws, err := testClient(t, srv).Websocket(context.Background(), created.ID)
	if err != nil || ws.Secret() != "rotated" {
		t.Fatalf("after update: %v, %v", ws.Secret(), err)
	}
	mustContain(t, mustAPI(t, srv, "websockets delete", id), "deleted websocket "+id)
	_, err = apiCmd(t, srv, "websockets get", id)
	if err == nil || !strings.Contains(err.Error(), "get websocket "+id+": 404") || !strings.Contains(err.Error(), "websocket not found") {
		t.Errorf("get after delete: %v, want a 404 naming the operation with Dialpad's message", err)
	}
}

func TestWebhooksCommands(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{PageSize: 2})
	for i := range 3 {
		srv.AddWebhook("https://example.com/hook"+string(rune('a'+i)), "hook-secret")
	}
	out := mustAPI(t, srv, "webhooks list")
	for _, u := range []string{"hooka", "hookb", "hookc"} {
		mustContain(t, out, u)
	}
	if n := calls(srv, 0, "GET", "/api/v2/webhooks"); n != 2 {
		t.Errorf("list made %d GETs, want 2 pages", n)
	}
	out = mustAPI(t, srv, "webhooks get", "--json", "1001")
	if strings.Contains(out, "hook-secret") {
		t.Errorf("webhook --json shows the secret:\n%s", out)
	}
	mustContain(t, out, "hookb")
	mustContain(t, mustAPI(t, srv, "webhooks delete", "1001"), "deleted webhook 1001")
	out = mustAPI(t, srv, "webhooks list")
	if strings.Contains(out, "hookb") {
		t.Errorf("webhook 1001 still listed:\n%s", out)
	}
}

// TestWebhookURLRedacted: a hook URL's password, query and the path from a
// segment that is not a plain word on (a token) are shown as xxxxx by
// webhooks list and get, in the table and in --json, and
// by the subscriptions that deliver to it, unless --show-secrets; they were
// printed whole (found by a black-box review).
func TestWebhookURLRedacted(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	wh := strconv.FormatInt(srv.AddWebhook("https://admin:Pa55word@hooks.example.com/dialpad?api_key=T0KEN", "hook-secret"), 10)
	var sub typedSubscription
	if err := json.Unmarshal([]byte(mustAPI(t, srv, "subscriptions create", "--json", "--type", "call", "--endpoint-id", wh)), &sub); err != nil {
		t.Fatal(err)
	}
	for _, args := range []string{"webhooks list", "webhooks list --json", "webhooks get " + wh, "webhooks get --json " + wh,
		"subscriptions get --type call --json " + sub.ID.String()} {
		out := mustAPI(t, srv, args)
		if strings.Contains(out, "Pa55word") || strings.Contains(out, "T0KEN") || strings.Contains(out, "hook-secret") {
			t.Errorf("%s shows a secret:\n%s", args, out)
		}
		mustContain(t, out, "https://admin:xxxxx@hooks.example.com/dialpad?xxxxx")
	}
	// A token in the path is hidden too, from the first segment that is
	// not a plain word on.
	slack := strconv.FormatInt(srv.AddWebhook("https://hooks.slack.com/services/T0001/B0002/XXXXs3cretXXXX", ""), 10)
	for _, args := range []string{"webhooks get " + slack, "webhooks get --json " + slack} {
		out := mustAPI(t, srv, args)
		if strings.Contains(out, "s3cret") || strings.Contains(out, "T0001") {
			t.Errorf("%s shows the path's token:\n%s", args, out)
		}
		mustContain(t, out, "https://hooks.slack.com/services/xxxxx")
	}
	mustContain(t, mustAPI(t, srv, "webhooks get --show-secrets "+slack), "https://hooks.slack.com/services/T0001/B0002/XXXXs3cretXXXX")
	for _, args := range []string{"webhooks list --show-secrets", "webhooks get --json --show-secrets " + wh} {
		mustContain(t, mustAPI(t, srv, args), "https://admin:Pa55word@hooks.example.com/dialpad?api_key=T0KEN")
	}
}

func TestSubscriptionsCommands(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{PageSize: 2})
	ws := srv.AddWebsocket("ws-secret")
	for range 5 {
		if _, err := srv.AddSubscription("call", ws, dialpadtest.SubscriptionOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	out := mustAPI(t, srv, "subscriptions list", "--type", "call")
	if got := strings.Count(out, "websocket 1000"); got != 5 {
		t.Errorf("list shows %d call subscriptions, want 5:\n%s", got, out)
	}
	if n := calls(srv, 0, "GET", "/api/v2/subscriptions/call"); n != 3 {
		t.Errorf("list made %d GETs, want 3 pages", n)
	}

	out = mustAPI(t, srv, "subscriptions create", "--json", "--type", "sms", "--endpoint-id", "1000",
		"--sms-direction", "inbound", "--include-internal", "--target-type", "office", "--target-id", "42")
	var sms typedSubscription
	if err := json.Unmarshal([]byte(out), &sms); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if sms.Type != "sms" || sms.Direction != "inbound" || !sms.IncludeInternal || sms.TargetID != 42 || sms.EndpointID() != 1000 {
		t.Errorf("created %+v", sms)
	}
	if strings.Contains(out, "ws-secret") || strings.Contains(out, "/events/ey") {
		t.Errorf("subscription --json leaks the websocket's secret or token:\n%s", out)
	}
	id := sms.ID.String()
	mustAPI(t, srv, "subscriptions update", "--type", "sms", "--delivery-status", "--enabled=false", id)
	out = mustAPI(t, srv, "subscriptions get", "--type", "sms", id)
	mustContain(t, out, "direction=inbound include_internal delivery_status target=office:42")
	mustContain(t, out, "false")

	mustAPI(t, srv, "subscriptions create", "--type", "contact", "--endpoint-id", "1000", "--contact-type", "local")
	// Dialpad requires contact_type on every contact update; the CLI fills it in.
	out = mustAPI(t, srv, "subscriptions update", "--type", "contact", "--enabled=false", "1007")
	mustContain(t, out, "contact_type=local")

	out = mustAPI(t, srv, "subscriptions list")
	for _, typ := range []string{"call ", "sms ", "contact "} {
		mustContain(t, out, typ)
	}
	mustContain(t, mustAPI(t, srv, "subscriptions delete", "--type", "sms", id), "deleted sms subscription "+id)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"subscriptions", "get", "1001"}, "subscriptions get: pass --type"},
		{[]string{"subscriptions", "get", "--type", "call"}, "subscriptions get: want one ID argument"},
		{[]string{"subscriptions", "get", "--type", "fax", "1001"}, "fax"},
		{[]string{"subscriptions", "create", "--type", "call"}, "--endpoint-id"},
		{[]string{"subscriptions", "create", "--type", "call", "--endpoint-id", "1000", "--sms-direction", "inbound"}, "--sms-direction applies to sms"},
		{[]string{"subscriptions", "get", "--type", "call", "x"}, "invalid id"},
	} {
		if _, err := apiCmd(t, srv, tc.args[0]+" "+tc.args[1], tc.args[2:]...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestResourceErrors: each error names the operation, carries Dialpad's
// error.message and says what to do; reads are retried after a 429,
// creating POSTs never are.
func TestResourceErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		fail      int // status injected for the next call, 0 for none
		badKey    bool
		want      []string // in the error; nil: success
		method    string
		path      string
		wantCalls int
	}{
		{name: "401", args: []string{"websockets", "list"}, badKey: true,
			want: []string{"list websockets: 401", "invalid or missing API key", "DIALPAD_API_KEY"}, method: "GET", path: "/api/v2/websockets", wantCalls: 1},
		{name: "403", args: []string{"subscriptions", "list", "--type", "contact"}, fail: http.StatusForbidden,
			want: []string{"list contact subscriptions: 403", "injected by dialpadtest", "company-admin"}, method: "GET", path: "/api/v2/subscriptions/contact", wantCalls: 1},
		{name: "404", args: []string{"webhooks", "get", "4242"},
			want: []string{"get webhook 4242: 404", "webhook not found", "check the id (for a subscription, its type too) and --env/--api-base"}, method: "GET", path: "/api/v2/webhooks/4242", wantCalls: 1},
		// A negative id is refused as 0 or abc is: it was "unknown flag -5".
		{name: "negative id", args: []string{"websockets", "get", "-5"},
			want: []string{`dialpad: invalid id "-5": want a positive decimal integer`}, method: "GET", path: "/api/v2/websockets/-5"},
		{name: "negative subscription id", args: []string{"subscriptions", "delete", "--type", "call", "-7"},
			want: []string{`dialpad: invalid id "-7": want a positive decimal integer`}, method: "DELETE", path: "/api/v2/subscriptions/call/-7"},
		{name: "429 read is retried", args: []string{"websockets", "list"}, fail: http.StatusTooManyRequests,
			method: "GET", path: "/api/v2/websockets", wantCalls: 2},
		{name: "429 create is not retried", args: []string{"websockets", "create"}, fail: http.StatusTooManyRequests,
			want: []string{"create websocket: 429", "injected by dialpadtest", "never retried"}, method: "POST", path: "/api/v2/websockets", wantCalls: 1},
		// A 5xx may come after the create was carried out: run again, it
		// would make a second one. The error said only "502 Bad Gateway".
		{name: "502 create may have been carried out", args: []string{"websockets", "create"}, fail: http.StatusBadGateway,
			want: []string{"create websocket: 502", "may have created it all the same", "look for it with `dialpad-tunnel websockets list --api-base "}, method: "POST", path: "/api/v2/websockets", wantCalls: 1},
		{name: "503 subscription create", args: []string{"subscriptions", "create", "--type", "sms", "--endpoint-id", "1000"}, fail: http.StatusServiceUnavailable,
			want: []string{"create sms subscription: 503", "may have created it all the same", "`dialpad-tunnel subscriptions list --type sms --api-base "}, method: "POST", path: "/api/v2/subscriptions/sms", wantCalls: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t, dialpadtest.Config{})
			api := apiArgs(srv)
			if tc.badKey {
				api[3] = "wrong-key-0123456789"
			}
			if tc.fail != 0 {
				srv.FailNextREST(1, tc.fail, 0)
			}
			start := time.Now()
			args := append(append(tc.args[:2:2], api...), tc.args[2:]...)
			out, err := runCmd(t, args...)
			if tc.want == nil && err != nil {
				t.Fatalf("error %v, want success", err)
			}
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v, want it to contain %q", err, w)
				}
			}
			if n := calls(srv, 0, tc.method, tc.path); n != tc.wantCalls {
				t.Errorf("%d calls to %s %s, want %d", n, tc.method, tc.path, tc.wantCalls)
			}
			if err != nil && tc.fail/100 == 4 && strings.Contains(err.Error(), "may have created it") {
				t.Errorf("a create Dialpad refused (%d) made nothing: %v", tc.fail, err)
			}
			if err != nil && strings.Contains(err.Error()+out, srv.APIKey()) {
				t.Error("output contains the API key")
			}
			t.Logf("took %s", time.Since(start))
		})
	}
}

// TestSubscriptionsUpdateTargetTypeAlone: --target-type without
// --target-id is refused before any write, naming both flags; it used to be
// dropped without a word, the command printing the subscription unchanged
// and exiting 0.
func TestSubscriptionsUpdateTargetTypeAlone(t *testing.T) {
	srv, _ := fakeDialpad(t, dialpadtest.Config{}, "")
	subs := mustAPI(t, srv, "subscriptions list", "--type", "call", "--json")
	var listed []struct {
		ID dialpad.ID `json:"id"`
	}
	if err := json.Unmarshal([]byte(subs), &listed); err != nil || len(listed) == 0 {
		t.Fatalf("subscriptions list: %v\n%s", err, subs)
	}
	id := listed[0].ID.String()
	before := len(srv.RESTCalls())
	_, err := apiCmd(t, srv, "subscriptions update", "--type", "call", "--target-type", "office", id)
	const want = "--target-type and --target-id go together: pass both (e.g. --target-type office --target-id 123)"
	if err == nil || err.Error() != want {
		t.Errorf("update --target-type alone: error %v, want %q", err, want)
	}
	if calls := srv.RESTCalls()[before:]; len(calls) != 0 {
		t.Errorf("a refused update made REST calls: %v", calls)
	}
}

// TestSubscriptionsUpdateRefusesBadOptions: subscriptions update checks its
// options as create does, before any REST call. It sent them to Dialpad as
// given: --target-id alone gave the subscription a target of no type,
// --target-id -5 a target of id -5, and an unknown --sms-direction,
// --contact-type, --target-type or --agent-type went out too.
func TestSubscriptionsUpdateRefusesBadOptions(t *testing.T) {
	srv, _ := fakeDialpad(t, dialpadtest.Config{}, "")
	for _, tc := range []struct {
		typ  string
		args []string
		want string
	}{
		{"call", []string{"--target-id", "5"}, "--target-type and --target-id go together: pass both (e.g. --target-type office --target-id 5)"},
		{"call", []string{"--target-type", "office", "--target-id", "-5"}, "--target-id -5: want a positive id"},
		{"call", []string{"--target-type", "ofice", "--target-id", "5"}, `--target-type "ofice": want one of ` + strings.Join(dialpad.TargetTypes(), ", ")},
		{"sms", []string{"--sms-direction", "in"}, `--sms-direction "in": want one of all, inbound, outbound`},
		{"agent_status", []string{"--agent-type", "queue"}, `--agent-type "queue": want one of callcenter`},
		{"contact", []string{"--contact-type", "private"}, `--contact-type "private": want one of local, shared`},
	} {
		before := len(srv.RESTCalls())
		_, err := apiCmd(t, srv, "subscriptions update", append(append([]string{"--type", tc.typ}, tc.args...), "1001")...)
		if err == nil || err.Error() != tc.want {
			t.Errorf("update --type %s %v: error %v, want %q", tc.typ, tc.args, err, tc.want)
		}
		if calls := srv.RESTCalls()[before:]; len(calls) != 0 {
			t.Errorf("update --type %s %v: a refused update made REST calls: %v", tc.typ, tc.args, calls)
		}
	}
}

// TestSubscriptionsEndpointIDNotPositive: an --endpoint-id of 0 or less is
// refused before any REST call, naming the flag; it used to be sent to
// Dialpad, whose 404 said "endpoint not found".
func TestSubscriptionsEndpointIDNotPositive(t *testing.T) {
	srv, _ := fakeDialpad(t, dialpadtest.Config{}, "")
	for _, tc := range []struct{ words, id string }{
		{"subscriptions create", "0"},
		{"subscriptions create", "-7"},
		{"subscriptions update", "-7"},
	} {
		rest := []string{"--type", "call", "--endpoint-id", tc.id}
		if tc.words == "subscriptions update" {
			rest = append(rest, "1001")
		}
		_, err := apiCmd(t, srv, tc.words, rest...)
		want := tc.words + ": --endpoint-id " + tc.id + ": want the positive id of a websocket or webhook (see `websockets list`, `webhooks list`)"
		if err == nil || err.Error() != want {
			t.Errorf("%s --endpoint-id %s: error %v, want %q", tc.words, tc.id, err, want)
		}
	}
	if calls := srv.RESTCalls(); len(calls) != 0 {
		t.Errorf("refused requests made REST calls: %v", calls)
	}
}

// TestSubscriptionsUpdateNothingToChange: an update that names no option
// is refused before any REST call, listing the options; it used to send
// an empty PATCH and exit 0, as if something had been done (found by a
// review of the resource commands).
func TestSubscriptionsUpdateNothingToChange(t *testing.T) {
	srv, _ := fakeDialpad(t, dialpadtest.Config{}, "")
	before := len(srv.RESTCalls())
	_, err := apiCmd(t, srv, "subscriptions update", "--type", "call", "1001")
	if err == nil || !strings.HasPrefix(err.Error(), "subscriptions update: nothing to change: give one or more of --endpoint-id, --enabled") {
		t.Errorf("update with nothing to change: error %v, want it refused, naming the options", err)
	}
	if calls := srv.RESTCalls()[before:]; len(calls) != 0 {
		t.Errorf("a refused update made REST calls: %v", calls)
	}
}

// TestResourceUsageNamesSubcommands: the one-line usage of websockets,
// subscriptions and webhooks (in dialpad-tunnel --help) names each of
// their subcommands as it is typed; it said "show" for get, which is an
// unknown command there.
func TestResourceUsageNamesSubcommands(t *testing.T) {
	for _, cmd := range []*cli.Command{websocketsCommand(), subscriptionsCommand(), webhooksCommand()} {
		words := strings.FieldsFunc(cmd.Usage, func(r rune) bool { return r == ',' || r == ' ' })
		for _, sub := range cmd.Subcommands {
			if !slices.Contains(words, sub.Name) {
				t.Errorf("%s: usage %q does not name its subcommand %q", cmd.Name, cmd.Usage, sub.Name)
			}
		}
		for _, w := range []string{"show"} {
			if slices.Contains(words, w) && cmd.Command(w) == nil {
				t.Errorf("%s: usage %q names %q, which is no subcommand", cmd.Name, cmd.Usage, w)
			}
		}
	}
}
