package doctor_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/doctor"
)

func newFake(t *testing.T) *dialpadtest.Server {
	t.Helper()
	srv, err := dialpadtest.NewServer(dialpadtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.AddWebsocket("s")
	return srv
}

func client(t *testing.T, base, key string) *dialpad.Client {
	t.Helper()
	c, err := dialpad.New(dialpad.Config{BaseURL: base, APIKey: key, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func find(t *testing.T, checks []doctor.Check, name string) doctor.Check {
	t.Helper()
	for _, c := range checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", name, checks)
	return doctor.Check{}
}

// TestAdminOnlyTypes: a 403 on an admin-only type is a warning with a fix,
// on call or sms a failure. The fake has no non-admin keys, so a front
// server answers 403 for some types.
func TestAdminOnlyTypes(t *testing.T) {
	srv := newFake(t)
	target, _ := url.Parse(srv.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/subscriptions/contact") || strings.HasSuffix(r.URL.Path, "/subscriptions/sms") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"error":{"code":403,"message":"company admin required"}}`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	checks, err := doctor.Run(context.Background(), doctor.Config{Client: client(t, front.URL, srv.APIKey())})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		status doctor.Status
		fix    string
	}{
		{"call subscriptions", doctor.OK, ""},
		{"sms subscriptions", doctor.Fail, "give the API key access"},
		{"contact subscriptions", doctor.Warn, "company-admin"},
		{"changelog subscriptions", doctor.OK, ""},
	} {
		c := find(t, checks, tc.name)
		if c.Status != tc.status || !strings.Contains(c.Fix, tc.fix) {
			t.Errorf("%s: %+v, want %s with fix %q", tc.name, c, tc.status, tc.fix)
		}
	}
	if c := find(t, checks, "contact subscriptions"); !strings.Contains(c.Detail, "company admin required") {
		t.Errorf("detail %q lacks Dialpad's message", c.Detail)
	}
}

// TestClockSkew: a local clock far from the token's iat fails the check.
func TestClockSkew(t *testing.T) {
	srv := newFake(t)
	for _, tc := range []struct {
		offset time.Duration
		want   doctor.Status
	}{{0, doctor.OK}, {10 * time.Minute, doctor.Fail}, {-10 * time.Minute, doctor.Fail}} {
		checks, err := doctor.Run(context.Background(), doctor.Config{
			Client: client(t, srv.URL(), srv.APIKey()),
			Now:    func() time.Time { return time.Now().Add(tc.offset) },
		})
		if err != nil {
			t.Fatal(err)
		}
		if c := find(t, checks, "clock"); c.Status != tc.want || (c.Status == doctor.Fail && !strings.Contains(c.Fix, "synchronise")) {
			t.Errorf("offset %s: %+v, want %s", tc.offset, c, tc.want)
		}
	}
}

// connectProxy is an HTTP proxy that accepts CONNECT to allowed and
// refuses any other target with 403. It records the targets asked for.
func connectProxy(t *testing.T, allowed string) (*httptest.Server, <-chan string) {
	asked := make(chan string, 4)
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked <- r.Host
		if r.Method != http.MethodConnect || r.Host != allowed {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer up.Close()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
		io.Copy(io.Discard, conn) // until the client closes the tunnel
	}))
	t.Cleanup(p.Close)
	return p, asked
}

// TestDialThroughProxy: the websocket host is reached with CONNECT through
// the proxy the ProxyFunc picks; a proxy that refuses is a clear error.
func TestDialThroughProxy(t *testing.T) {
	target := httptest.NewServer(http.NotFoundHandler())
	defer target.Close()
	host := strings.TrimPrefix(target.URL, "http://")
	p, asked := connectProxy(t, host)
	viaProxy := func(*http.Request) (*url.URL, error) { return url.Parse(p.URL) }
	direct := func(*http.Request) (*url.URL, error) { return nil, nil }

	via, err := doctor.Dial(context.Background(), "ws://"+host+"/events/a.b.c", viaProxy, 5*time.Second)
	if err != nil || !strings.HasPrefix(via, "via proxy http://127.0.0.1") {
		t.Fatalf("Dial via proxy = %q, %v", via, err)
	}
	if got := <-asked; got != host {
		t.Errorf("proxy was asked for %q, want %q", got, host)
	}
	if via, err := doctor.Dial(context.Background(), "ws://"+host+"/events/a.b.c", direct, 5*time.Second); err != nil || via != "directly" {
		t.Errorf("Dial direct = %q, %v", via, err)
	}
	_, err = doctor.Dial(context.Background(), "ws://127.0.0.1:1/events/a.b.c", viaProxy, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "refused CONNECT") {
		t.Errorf("Dial to a forbidden host: %v", err)
	}
	if _, err := doctor.Dial(context.Background(), "wss://"+host+"/events/x", direct, 5*time.Second); err == nil || !strings.Contains(err.Error(), "TLS handshake") {
		t.Errorf("wss to a plain-HTTP host: %v, want a TLS handshake error", err)
	}
}

// TestEventsForTheWebsocket: the check that some subscription feeds the
// websocket gives a fix that runs against the API checked (its APIFlags),
// and is skipped for a websocket that is not on the account. It told the
// user to create a subscription for a websocket Dialpad answered 404 for,
// and printed the command without --api-base, so against Dialpad itself.
// For a websocket whose subscriptions are all disabled, the fix is the
// command that enables them (it said "create one, or enable one").
func TestEventsForTheWebsocket(t *testing.T) {
	srv := newFake(t)
	c := client(t, srv.URL(), srv.APIKey())
	bare, err := c.CreateWebsocket(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	// A websocket whose only subscription is disabled: the fix enables
	// that one, where it said "create one", which makes a second.
	off, err := c.CreateWebsocket(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := c.CreateSubscription(context.Background(), dialpad.SMS, dialpad.SubscriptionRequest{EndpointID: &off.ID, Enabled: new(false), Direction: "all"})
	if err != nil {
		t.Fatal(err)
	}
	flags := []string{"--api-base", srv.URL()}
	for _, tc := range []struct {
		id     dialpad.ID
		status doctor.Status
		fix    string
	}{
		{bare.ID, doctor.Warn, "create one: `dialpad-tunnel subscriptions create --type call --endpoint-id " + bare.ID.String() + " --api-base " + srv.URL() + "` (or a setup file), or enable one"},
		{off.ID, doctor.Warn, "enable the disabled one(s) on it: `dialpad-tunnel subscriptions update --type sms --enabled " + sub.ID.String() + " --api-base " + srv.URL() + "`"},
		{bare.ID + 1000, doctor.Skip, ""},
	} {
		checks, err := doctor.Run(context.Background(), doctor.Config{Client: c, WebsocketID: tc.id, APIFlags: flags})
		if err != nil {
			t.Fatal(err)
		}
		if got := find(t, checks, "events for the websocket"); got.Status != tc.status || got.Fix != tc.fix {
			t.Errorf("websocket %s: %+v, want status %s and fix %q", tc.id, got, tc.status, tc.fix)
		}
	}
	checks, err := doctor.Run(context.Background(), doctor.Config{Client: c, WebsocketID: bare.ID + 1000, APIFlags: flags})
	if err != nil {
		t.Fatal(err)
	}
	if got := find(t, checks, "websocket host"); !strings.Contains(got.Fix, "`dialpad-tunnel websockets list --api-base "+srv.URL()+"`") {
		t.Errorf("websocket host: fix %q, want the websockets list command with --api-base", got.Fix)
	}
}
