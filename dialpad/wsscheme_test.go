package dialpad_test

import (
	"strings"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

// TestWebsocketURLUnencryptedFromHTTPSRefused: a ws:// websocket_url from
// an https API is not dialled (its token would cross the network in the
// clear; Dialpad's are wss://), and the error does not show it. From an
// http API (the emulator) ws:// is what comes, and is taken.
func TestWebsocketURLUnencryptedFromHTTPSRefused(t *testing.T) {
	const token = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2ln"
	for _, tc := range []struct {
		base, url string
		refused   bool
	}{
		{"https://dialpad.com", "ws://events.example/events/" + token, true},
		{"https://dialpad.com", "WS://events.example/events/" + token, true},
		{"https://dialpad.com", "wss://events.example/events/" + token, false},
		{"http://127.0.0.1:8089", "ws://127.0.0.1:8089/events/" + token, false},
	} {
		c, err := dialpad.New(dialpad.Config{BaseURL: tc.base, APIKey: "key"})
		if err != nil {
			t.Fatal(err)
		}
		err = c.CheckWebsocketURL(tc.url)
		if (err != nil) != tc.refused {
			t.Errorf("API %s, websocket_url %s: %v; want refused %v", tc.base, tc.url, err, tc.refused)
		}
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("the error shows the token: %v", err)
		}
	}
}
