package setup_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/setup"
)

// losingProxy forwards every request to srv, but drops the connection
// instead of answering a POST to path: the create reaches Dialpad and is
// carried out, and its answer never comes back (a slow proxy, a timeout).
func losingProxy(t *testing.T, srv *dialpadtest.Server, path string) string {
	t.Helper()
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == path {
			rp.ServeHTTP(httptest.NewRecorder(), r)
			panic(http.ErrAbortHandler) // closes the connection, unanswered
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	return proxy.URL
}

// TestApplyUnansweredCreate: a create that got no answer is reported as one
// that may have happened (an UnansweredCreate naming the object), not as a
// failure a second run finishes; a create Dialpad refused is not.
func TestApplyUnansweredCreate(t *testing.T) {
	for _, tc := range []struct {
		path string
		typ  dialpad.SubscriptionType
		key  string
	}{
		{"/api/v2/websockets", "", ""},
		{"/api/v2/subscriptions/sms", dialpad.SMS, "texts"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			srv, err := dialpadtest.NewServer(dialpadtest.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			base := losingProxy(t, srv, tc.path)
			err = applyFile(t, base, srv.APIKey(), "subscriptions: [{type: call}, {type: sms, name: texts}]")
			var u *setup.UnansweredCreate
			if !errors.As(err, &u) || u.Type != tc.typ || u.Key != tc.key || !strings.HasSuffix(err.Error(), "(no answer came, so it may have been created all the same)") {
				t.Fatalf("apply: %v (%#v), want an UnansweredCreate of %q %q", err, u, tc.typ, tc.key)
			}
			// It was created indeed: the message is not a false alarm.
			ctx := context.Background()
			check, _ := dialpad.New(dialpad.Config{BaseURL: srv.URL(), APIKey: srv.APIKey()})
			wss, _ := check.ListWebsockets(ctx)
			subs, _ := check.ListSubscriptions(ctx, dialpad.SMS)
			if len(wss) != 1 || tc.typ == dialpad.SMS && len(subs) != 1 {
				t.Errorf("upstream: %d websockets, %d sms subscriptions", len(wss), len(subs))
			}
		})
	}

	srv, err := dialpadtest.NewServer(dialpadtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, _ := dialpad.New(dialpad.Config{BaseURL: srv.URL(), APIKey: srv.APIKey(), MaxRetries: -1})
	s, _ := setup.New(setup.Config{Client: c, APIBase: srv.URL(), StatePath: filepath.Join(t.TempDir(), "state.json")})
	f, _ := setup.Parse([]byte("subscriptions: []"), nil)
	p, err := s.Plan(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	srv.FailNextREST(1, http.StatusUnprocessableEntity, 0)
	var u *setup.UnansweredCreate
	if _, err := s.Apply(context.Background(), p); err == nil || errors.As(err, &u) {
		t.Errorf("a refused create: %v, want an error that is no UnansweredCreate", err)
	}
	// A 5xx may come after the create was carried out (a gateway's
	// timeout): it was taken for a refusal, and the next run made a second
	// one, as listen --create and migrate do not.
	srv.FailNextREST(1, http.StatusBadGateway, 0)
	if _, err := s.Apply(context.Background(), p); !errors.As(err, &u) || u.Type != "" ||
		!strings.HasSuffix(err.Error(), "(a server error may come after the create was carried out, so it may have been created all the same)") {
		t.Errorf("a create answered 502: %v, want an UnansweredCreate of the websocket", err)
	}
}

// TestApplyCreateNeverSent: a create whose connection was refused was
// never sent, so it is an ordinary failure a second run finishes, not an
// UnansweredCreate that sends the user looking for an object.
func TestApplyCreateNeverSent(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + l.Addr().String()
	l.Close() // nothing listens there now: every connection is refused
	err = applyFile(t, base, "key", "websocket: {}\nsubscriptions: [{type: call}]")
	var u *setup.UnansweredCreate
	if err == nil || errors.As(err, &u) || !strings.Contains(err.Error(), "create websocket") {
		t.Errorf("apply: %v; want a create websocket error that is not an UnansweredCreate", err)
	}
}

// applyFile plans and applies the setup file text against the API at
// base, with no REST retries and a fresh state file, and returns Apply's
// error (a failed plan fails t).
func applyFile(t *testing.T, base, key, text string) error {
	t.Helper()
	c, err := dialpad.New(dialpad.Config{BaseURL: base, APIKey: key, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	f, err := setup.Parse([]byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := setup.New(setup.Config{Client: c, APIBase: base, StatePath: filepath.Join(t.TempDir(), "state.json")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := s.Plan(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Apply(ctx, p)
	return err
}
