package dialpad_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestRedirectKeepsKeyAtHome: a redirect to another origin (here the same
// host on another port, which net/http treats as the same domain and so
// sends the Authorization header to) must not carry the API key there.
// A redirect within the origin is still followed.
func TestRedirectKeepsKeyAtHome(t *testing.T) {
	var leaked atomic.Value
	other := serve(t, func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"1","url":"https://example.com/h"}`))
	})
	for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		leaked.Store("")
		var asked atomic.Int32
		api := serve(t, func(w http.ResponseWriter, r *http.Request) {
			asked.Add(1)
			http.Redirect(w, r, other.URL+r.URL.Path, code)
		})
		c := newClient(t, api.URL, nil)
		_, err := c.Webhook(context.Background(), 1)
		if got := leaked.Load().(string); strings.Contains(got, testKey) {
			t.Errorf("%d to another origin: the API key reached it (Authorization: %q)", code, got)
		}
		if err == nil {
			t.Errorf("%d to another origin: no error", code)
		} else if strings.Contains(err.Error(), testKey) {
			t.Errorf("%d: error holds the key: %v", code, err)
		}
		if n := asked.Load(); n != 1 {
			t.Errorf("%d to another origin: asked %d times, want 1 (a redirect is not retried)", code, n)
		}
	}

	// Same origin: followed, key sent.
	var home atomic.Value
	home.Store("")
	api := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v2/webhooks/1" {
			http.Redirect(w, r, "/api/v2/webhooks/1/", http.StatusTemporaryRedirect)
			return
		}
		home.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"1","url":"https://example.com/h"}`))
	})
	c := newClient(t, api.URL, nil)
	if _, err := c.Webhook(context.Background(), 1); err != nil {
		t.Fatalf("same-origin redirect: %v", err)
	}
	if got := home.Load().(string); got != "Bearer "+testKey {
		t.Errorf("same-origin redirect: Authorization %q, want the key", got)
	}
}
