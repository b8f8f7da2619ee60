package dialpad_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

// TestErrorEscapesControlCharacters: an error body's escape sequences and
// line breaks, raw or decoded from a JSON message, reach the message
// escaped: the error is printed as it is (doctor, a command's last line),
// where they would drive the terminal or forge a line.
func TestErrorEscapesControlCharacters(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"json message", `{"error":{"code":400,"message":"boom \u001b[2J\u001b]0;title\u0007\nforged"}}`, `boom \x1b[2J\x1b]0;title\a\nforged`},
		{"raw body", "oops \x1b[31mred\x1b[0m\r\nforged", `oops \x1b[31mred\x1b[0m forged`},
		{"printable", `{"error":{"code":400,"message":"déjà vu — fine"}}`, "déjà vu — fine"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, tc.body)
			})
			_, err := newClient(t, srv.URL, nil).Websocket(context.Background(), 1000)
			var apiErr *dialpad.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v is not an *APIError", err)
			}
			if apiErr.Message != tc.want {
				t.Errorf("Message = %q, want %q", apiErr.Message, tc.want)
			}
		})
	}
}
