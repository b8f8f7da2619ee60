package dialpad_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// newFake starts a fake Dialpad and a client for it with fast retries.
func newFake(t *testing.T, cfg dialpadtest.Config) (*dialpadtest.Server, *dialpad.Client) {
	t.Helper()
	srv, err := dialpadtest.NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL(), func(c *dialpad.Config) { c.APIKey = srv.APIKey() })
	return srv, c
}

// statuses returns the statuses of the logged REST calls to method and path.
func statuses(srv *dialpadtest.Server, method, path string) []int {
	var out []int
	for _, c := range srv.RESTCalls() {
		if c.Method == method && c.Path == path {
			out = append(out, c.Status)
		}
	}
	return out
}

// wantStatus fails unless err is an *APIError with the given status.
func wantStatus(t *testing.T, err error, status int) *dialpad.APIError {
	t.Helper()
	var apiErr *dialpad.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != status {
		t.Fatalf("error = %v, want *APIError %d", err, status)
	}
	return apiErr
}

// checkExpiry checks that a websocket URL expires ttl after it was issued,
// between before and after.
func checkExpiry(t *testing.T, url string, before, after time.Time, ttl time.Duration) {
	t.Helper()
	exp, err := dialpad.URLExpiry(url)
	if err != nil {
		t.Fatalf("URLExpiry: %v", err)
	}
	lo, hi := before.Add(ttl).Truncate(time.Millisecond), after.Add(ttl+time.Millisecond)
	if exp.Before(lo) || exp.After(hi) {
		t.Errorf("URL expires %v, want between %v and %v", exp, lo, hi)
	}
}

func TestFakeWebsocketLifecycle(t *testing.T) {
	const ttl = 10 * time.Minute
	srv, c := newFake(t, dialpadtest.Config{TokenTTL: ttl})
	ctx := context.Background()

	before := time.Now()
	ws, err := c.CreateWebsocket(ctx, "s3cret")
	if err != nil {
		t.Fatalf("CreateWebsocket: %v", err)
	}
	if ws.ID == 0 || ws.Secret() != "s3cret" || ws.Signature.Algo != "HS256" || ws.Signature.Type != "jwt" {
		t.Errorf("created %+v", ws)
	}
	checkExpiry(t, ws.URL, before, time.Now(), ttl)

	before = time.Now()
	got, err := c.Websocket(ctx, ws.ID)
	if err != nil {
		t.Fatalf("Websocket: %v", err)
	}
	if got.ID != ws.ID || got.URL == ws.URL || got.Secret() != "s3cret" {
		t.Errorf("GET = %v, want the same endpoint with a fresh URL", got)
	}
	checkExpiry(t, got.URL, before, time.Now(), ttl)
	if !strings.HasSuffix(dialpad.RedactURL(got.URL), "/events/<token>") {
		t.Errorf("RedactURL = %q", dialpad.RedactURL(got.URL))
	}

	plain, err := c.CreateWebsocket(ctx, "")
	if err != nil || plain.Signature != nil || plain.Secret() != "" {
		t.Errorf("CreateWebsocket without secret = %+v, %v", plain, err)
	}

	upd, err := c.UpdateWebsocket(ctx, ws.ID, "rotated")
	if err != nil || upd.ID != ws.ID || upd.Secret() != "rotated" {
		t.Errorf("UpdateWebsocket = %+v, %v", upd, err)
	}

	all, err := c.ListWebsockets(ctx)
	if err != nil {
		t.Fatalf("ListWebsockets: %v", err)
	}
	if len(all) != 2 || all[0].ID != ws.ID || all[1].ID != plain.ID {
		t.Errorf("ListWebsockets = %v", all)
	}

	del, err := c.DeleteWebsocket(ctx, ws.ID)
	if err != nil || del.ID != ws.ID {
		t.Errorf("DeleteWebsocket = %+v, %v", del, err)
	}
	_, err = c.Websocket(ctx, ws.ID)
	apiErr := wantStatus(t, err, http.StatusNotFound)
	if !apiErr.Permanent() || apiErr.Op != "get websocket "+ws.ID.String() || apiErr.Message == "" {
		t.Errorf("APIError = %+v", apiErr)
	}
	if _, err := c.DeleteWebsocket(ctx, ws.ID); !dialpad.IsPermanent(err) {
		t.Errorf("second delete error = %v, want a permanent 404", err)
	}

	wantCalls := []string{"POST /api/v2/websockets", "GET /api/v2/websockets/" + ws.ID.String()}
	var calls []string
	for _, call := range srv.RESTCalls()[:2] {
		calls = append(calls, call.Method+" "+call.Path)
	}
	if !slices.Equal(calls, wantCalls) {
		t.Errorf("calls %q, want %q", calls, wantCalls)
	}
}

func TestFakeWebhookLifecycle(t *testing.T) {
	_, c := newFake(t, dialpadtest.Config{})
	ctx := context.Background()

	wh, err := c.CreateWebhook(ctx, "https://example.com/hook", "s3cret")
	if err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}
	if wh.ID == 0 || wh.HookURL != "https://example.com/hook" || wh.Secret() != "s3cret" {
		t.Errorf("created %+v", wh)
	}
	got, err := c.Webhook(ctx, wh.ID)
	if err != nil || got.ID != wh.ID || got.HookURL != wh.HookURL || got.Secret() != wh.Secret() {
		t.Errorf("Webhook = %+v, %v", got, err)
	}

	newURL := "https://example.com/v2"
	upd, err := c.UpdateWebhook(ctx, wh.ID, dialpad.WebhookUpdate{HookURL: &newURL})
	if err != nil || upd.HookURL != newURL || upd.Secret() != "s3cret" {
		t.Errorf("UpdateWebhook(url) = %+v, %v", upd, err)
	}
	secret := "rotated"
	upd, err = c.UpdateWebhook(ctx, wh.ID, dialpad.WebhookUpdate{Secret: &secret})
	if err != nil || upd.HookURL != newURL || upd.Secret() != "rotated" {
		t.Errorf("UpdateWebhook(secret) = %+v, %v", upd, err)
	}

	if _, err := c.CreateWebhook(ctx, "", ""); err == nil {
		t.Error("CreateWebhook without URL succeeded")
	}

	all, err := c.ListWebhooks(ctx)
	if err != nil || len(all) != 1 || all[0].ID != wh.ID {
		t.Errorf("ListWebhooks = %v, %v", all, err)
	}
	if del, err := c.DeleteWebhook(ctx, wh.ID); err != nil || del.ID != wh.ID {
		t.Errorf("DeleteWebhook = %+v, %v", del, err)
	}
	_, err = c.Webhook(ctx, wh.ID)
	wantStatus(t, err, http.StatusNotFound)
}

func TestFakeSubscriptionLifecycle(t *testing.T) {
	enabled, disabled := true, false
	tests := []struct {
		typ    dialpad.SubscriptionType
		create dialpad.SubscriptionRequest
		check  func(dialpad.Subscription) bool
		update dialpad.SubscriptionRequest
	}{
		{dialpad.Call,
			dialpad.SubscriptionRequest{CallStates: []string{"hangup", "ringing"}, GroupCallsOnly: &enabled},
			func(s dialpad.Subscription) bool {
				return slices.Equal(s.CallStates, []string{"hangup", "ringing"}) && s.GroupCallsOnly
			},
			dialpad.SubscriptionRequest{Enabled: &disabled}},
		{dialpad.SMS,
			dialpad.SubscriptionRequest{Direction: "inbound", IncludeInternal: &enabled, Status: &enabled},
			func(s dialpad.Subscription) bool { return s.Direction == "inbound" && s.IncludeInternal && s.Status },
			dialpad.SubscriptionRequest{Enabled: &disabled}},
		{dialpad.AgentStatus,
			dialpad.SubscriptionRequest{AgentType: "callcenter"},
			func(s dialpad.Subscription) bool { return s.AgentType == "callcenter" },
			dialpad.SubscriptionRequest{Enabled: &disabled}},
		{dialpad.Contact,
			dialpad.SubscriptionRequest{ContactType: "local"},
			func(s dialpad.Subscription) bool { return s.ContactType == "local" },
			dialpad.SubscriptionRequest{Enabled: &disabled, ContactType: "local"}},
		{dialpad.Changelog,
			dialpad.SubscriptionRequest{},
			func(s dialpad.Subscription) bool { return true },
			dialpad.SubscriptionRequest{Enabled: &disabled}},
	}
	const ttl = 5 * time.Minute
	srv, c := newFake(t, dialpadtest.Config{TokenTTL: ttl})
	ctx := context.Background()
	wsID := dialpad.ID(srv.AddWebsocket("s"))
	hookID := dialpad.ID(srv.AddWebhook("https://example.com/hook", ""))

	for _, tt := range tests {
		t.Run(string(tt.typ), func(t *testing.T) {
			req := tt.create
			req.EndpointID = &wsID
			before := time.Now()
			sub, err := c.CreateSubscription(ctx, tt.typ, req)
			if err != nil {
				t.Fatalf("CreateSubscription: %v", err)
			}
			if sub.ID == 0 || !sub.Enabled || !tt.check(sub) || sub.Websocket == nil || sub.EndpointID() != wsID || sub.Webhook != nil {
				t.Errorf("created %+v", sub)
			}
			checkExpiry(t, sub.Websocket.URL, before, time.Now(), ttl)

			got, err := c.Subscription(ctx, tt.typ, sub.ID)
			if err != nil || got.ID != sub.ID || !tt.check(got) || got.EndpointID() != wsID {
				t.Errorf("Subscription = %+v, %v", got, err)
			}

			upd, err := c.UpdateSubscription(ctx, tt.typ, sub.ID, tt.update)
			if err != nil || upd.Enabled || !tt.check(upd) || upd.EndpointID() != wsID {
				t.Errorf("UpdateSubscription = %+v, %v", upd, err)
			}
			// Re-pair with the webhook.
			repair := dialpad.SubscriptionRequest{EndpointID: &hookID, ContactType: tt.update.ContactType}
			upd, err = c.UpdateSubscription(ctx, tt.typ, sub.ID, repair)
			if err != nil || upd.Webhook == nil || upd.Websocket != nil || upd.EndpointID() != hookID {
				t.Errorf("re-paired = %+v, %v", upd, err)
			}

			all, err := c.ListSubscriptions(ctx, tt.typ)
			if err != nil || len(all) != 1 || all[0].ID != sub.ID {
				t.Errorf("ListSubscriptions = %+v, %v", all, err)
			}
			if del, err := c.DeleteSubscription(ctx, tt.typ, sub.ID); err != nil || del.ID != sub.ID {
				t.Errorf("DeleteSubscription = %+v, %v", del, err)
			}
			_, err = c.Subscription(ctx, tt.typ, sub.ID)
			wantStatus(t, err, http.StatusNotFound)
		})
	}

	// A request the API rejects surfaces as a non-permanent 400.
	_, err := c.CreateSubscription(ctx, dialpad.SMS, dialpad.SubscriptionRequest{EndpointID: &wsID})
	if apiErr := wantStatus(t, err, http.StatusBadRequest); apiErr.Permanent() || apiErr.Message == "" {
		t.Errorf("APIError = %+v", apiErr)
	}
}

func TestFakePagination(t *testing.T) {
	srv, c := newFake(t, dialpadtest.Config{PageSize: 2})
	ctx := context.Background()
	var wsIDs, hookIDs, subIDs []dialpad.ID
	for range 5 {
		wsIDs = append(wsIDs, dialpad.ID(srv.AddWebsocket("")))
		hookIDs = append(hookIDs, dialpad.ID(srv.AddWebhook("https://example.com/h", "")))
	}
	for range 4 {
		id, err := srv.AddSubscription("call", int64(wsIDs[0]), dialpadtest.SubscriptionOptions{})
		if err != nil {
			t.Fatal(err)
		}
		subIDs = append(subIDs, dialpad.ID(id))
	}

	wss, err := c.ListWebsockets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := c.ListWebhooks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	subs, err := c.ListSubscriptions(ctx, dialpad.Call)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(n int, id func(int) dialpad.ID) []dialpad.ID {
		out := make([]dialpad.ID, n)
		for i := range out {
			out[i] = id(i)
		}
		return out
	}
	if got := ids(len(wss), func(i int) dialpad.ID { return wss[i].ID }); !slices.Equal(got, wsIDs) {
		t.Errorf("websockets %v, want %v", got, wsIDs)
	}
	if got := ids(len(hooks), func(i int) dialpad.ID { return hooks[i].ID }); !slices.Equal(got, hookIDs) {
		t.Errorf("webhooks %v, want %v", got, hookIDs)
	}
	if got := ids(len(subs), func(i int) dialpad.ID { return subs[i].ID }); !slices.Equal(got, subIDs) {
		t.Errorf("subscriptions %v, want %v", got, subIDs)
	}
	for path, pages := range map[string]int{"/api/v2/websockets": 3, "/api/v2/webhooks": 3, "/api/v2/subscriptions/call": 2} {
		if got := statuses(srv, http.MethodGet, path); len(got) != pages {
			t.Errorf("GET %s: %v, want %d pages", path, got, pages)
		}
	}
}

// TestFakeAuthErrors checks that a wrong key yields a permanent 401 whose
// text contains neither key.
func TestFakeAuthErrors(t *testing.T) {
	srv, _ := newFake(t, dialpadtest.Config{APIKey: "the-real-key-123"})
	c := newClient(t, srv.URL(), func(cfg *dialpad.Config) { cfg.APIKey = "the-wrong-key-456" })
	ctx := context.Background()
	_, errList := c.ListWebsockets(ctx)
	_, errGet := c.Subscription(ctx, dialpad.Call, 1000)
	_, errCreate := c.CreateWebhook(ctx, "https://example.com/h", "")
	for _, err := range []error{errList, errGet, errCreate} {
		if apiErr := wantStatus(t, err, http.StatusUnauthorized); !apiErr.Permanent() {
			t.Errorf("401 not permanent: %v", err)
		}
		if s := err.Error(); strings.Contains(s, "the-real-key-123") || strings.Contains(s, "the-wrong-key-456") {
			t.Errorf("error %q contains a key", s)
		}
	}
	if n := len(srv.RESTCalls()); n != 3 {
		t.Errorf("server saw %d calls, want 3 (401 is not retried)", n)
	}
}

func TestFakeRetriesIdempotent(t *testing.T) {
	tests := []struct {
		name   string
		status int
		call   func(context.Context, *dialpad.Client, dialpad.ID) error
		method string
		path   string
	}{
		{"get 429", http.StatusTooManyRequests, func(ctx context.Context, c *dialpad.Client, id dialpad.ID) error {
			_, err := c.Websocket(ctx, id)
			return err
		}, http.MethodGet, "/api/v2/websockets/"},
		{"patch 503", http.StatusServiceUnavailable, func(ctx context.Context, c *dialpad.Client, id dialpad.ID) error {
			_, err := c.UpdateWebsocket(ctx, id, "x")
			return err
		}, http.MethodPatch, "/api/v2/websockets/"},
		{"delete 500", http.StatusInternalServerError, func(ctx context.Context, c *dialpad.Client, id dialpad.ID) error {
			_, err := c.DeleteWebsocket(ctx, id)
			return err
		}, http.MethodDelete, "/api/v2/websockets/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := newFake(t, dialpadtest.Config{})
			id := dialpad.ID(srv.AddWebsocket(""))
			srv.FailNextREST(2, tt.status, time.Second) // Retry-After: 1, capped at RetryWaitMax
			if err := tt.call(context.Background(), c, id); err != nil {
				t.Fatalf("call after 2 failures: %v", err)
			}
			got := statuses(srv, tt.method, tt.path+id.String())
			if want := []int{tt.status, tt.status, http.StatusOK}; !slices.Equal(got, want) {
				t.Errorf("statuses %v, want %v", got, want)
			}
		})
	}

	t.Run("gives up", func(t *testing.T) {
		srv, c := newFake(t, dialpadtest.Config{})
		srv.FailNextREST(10, http.StatusTooManyRequests, time.Second)
		_, err := c.ListWebhooks(context.Background())
		if apiErr := wantStatus(t, err, http.StatusTooManyRequests); apiErr.RetryAfter != time.Second || apiErr.Permanent() {
			t.Errorf("APIError = %+v", apiErr)
		}
		if got := statuses(srv, http.MethodGet, "/api/v2/webhooks"); len(got) != 4 {
			t.Errorf("statuses %v, want 4 attempts", got)
		}
	})
}

func TestFakePostNotRetried(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter time.Duration
	}{
		{http.StatusTooManyRequests, 2 * time.Second},
		{http.StatusInternalServerError, 0},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			srv, c := newFake(t, dialpadtest.Config{})
			ctx := context.Background()
			wsID := dialpad.ID(srv.AddWebsocket(""))

			srv.FailNextREST(1, tt.status, tt.retryAfter)
			_, err := c.CreateWebsocket(ctx, "")
			if apiErr := wantStatus(t, err, tt.status); apiErr.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter = %s, want %s", apiErr.RetryAfter, tt.retryAfter)
			}
			srv.FailNextREST(1, tt.status, tt.retryAfter)
			_, err = c.CreateSubscription(ctx, dialpad.Changelog, dialpad.SubscriptionRequest{EndpointID: &wsID})
			wantStatus(t, err, tt.status)

			if got := statuses(srv, http.MethodPost, "/api/v2/websockets"); !slices.Equal(got, []int{tt.status}) {
				t.Errorf("POST websockets statuses %v, want one %d", got, tt.status)
			}
			if got := statuses(srv, http.MethodPost, "/api/v2/subscriptions/changelog"); !slices.Equal(got, []int{tt.status}) {
				t.Errorf("POST subscriptions statuses %v, want one %d", got, tt.status)
			}
			// The caller decides to try again, and it works.
			if _, err := c.CreateWebsocket(ctx, ""); err != nil {
				t.Errorf("second create: %v", err)
			}
		})
	}
}
