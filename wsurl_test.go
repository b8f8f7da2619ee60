package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestListenSaysWhatIsWrongWithTheWebsocketURL: a websocket_url that cannot
// be dialled is reported with what is wrong with it, never with its token
// or password (the dial itself said only "malformed ws or wss URL").
func TestListenSaysWhatIsWrongWithTheWebsocketURL(t *testing.T) {
	const token = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDB9.dG9rZW4tc2ln"
	for _, tc := range []struct{ wsURL, want string }{
		{"", "fetch websocket_url: dialpad: the API answered no websocket_url"},
		{"ws://user:pa55word@127.0.0.1:1/ws/" + token, "fetch websocket_url: dialpad: websocket_url has user info, which a websocket URL cannot carry"},
	} {
		api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id": 7, "websocket_url": %q}`, tc.wsURL)
		}))
		r := start(t, "listen", "--api-base", api.URL, "--api-key", "k3y-s3cret", "--websocket-id", "7",
			"--forward-to", "http://127.0.0.1:1/hook", "--no-spool")
		r.stdout.waitFor(t, tc.want, 10*time.Second)
		r.stop(t)
		api.Close()
		out := r.stdout.String() + r.stderr.String()
		for _, secret := range []string{"dG9rZW4tc2ln", "pa55word", "k3y-s3cret", "malformed"} {
			if strings.Contains(out, secret) {
				t.Errorf("websocket_url %q: output shows %q:\n%s", tc.wsURL, secret, out)
			}
		}
	}
}
