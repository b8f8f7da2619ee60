package agent

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

// An https API that answers a ws:// websocket_url gets it refused, not
// dialled: its token would cross the network in the clear
// (dialpad.Client.CheckWebsocketURL, for both kinds of source).
func TestUnencryptedWebsocketURLNotDialled(t *testing.T) {
	dialled := make(chan struct{}, 1)
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case dialled <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(ws.Close)
	wsURL := "ws" + strings.TrimPrefix(ws.URL, "http") + "/events/tok"
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":7,"websocket_url":%q,"websocket":{"id":7,"websocket_url":%q}}`, wsURL, wsURL)
	}))
	t.Cleanup(api.Close)
	c, err := dialpad.New(dialpad.Config{BaseURL: api.URL, APIKey: "key", Transport: api.Client().Transport, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []Source{WebsocketSource(c, 7), SubscriptionSource(c, dialpad.Call, 7)} {
		r := startAgent(t, testConfig(), newReceiver(t, nil).url, src)
		failed := r.logs.waitFind(t, 1, "WARN", "connect failed")
		if reason := failed[0].str("reason"); !strings.Contains(reason, "ws:// (unencrypted) from an https API") {
			t.Errorf("%s: connect failed with %q, want the ws:// refusal", src.Name, reason)
		}
		if err := r.stop(t); err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
	select {
	case <-dialled:
		t.Error("the ws:// URL was dialled")
	default:
	}
}
