package dialpad_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

// TestErrorRedactsKeyAsToken: a short API key is hidden where it stands as
// itself (a URL's query, a JSON string, after "Bearer "), but left inside
// a word of the message: with the key "k", a 401 used to say "invalid or
// missing API <redacted>ey" (found by a black-box review). A long key is
// hidden even inside a word, as after an escape.
func TestErrorRedactsKeyAsToken(t *testing.T) {
	long := "dp_9f8e7d6c5b4a39281706"
	for _, tc := range []struct {
		name, key, body, want string
	}{
		{"word", "k", `{"error":{"code":401,"message":"invalid or missing API key"}}`, "invalid or missing API key"},
		{"query", "k", `{"error":{"code":401,"message":"bad request GET /api/v2/websockets?apikey=k&cursor=kk"}}`, "bad request GET /api/v2/websockets?apikey=<redacted>&cursor=kk"},
		{"json", "k", `{"detail":{"key":"k"},"why":"k-9 k_1 9k"}`, `{"detail":{"key":"<redacted>"},"why":"k-9 k_1 9k"}`},
		{"bearer", "abc", "Authorization: Bearer abc (abc) abcd", "Authorization: Bearer <redacted> (<redacted>) abcd"},
		{"edges", "kk", "kk kkk kk", "<redacted> kkk <redacted>"},
		{"long inside a word", long, `{"url":"/x?h=Bearer%20` + long + `","body":"\n` + long + `"}`, `{"url":"/x?h=Bearer%20<redacted>","body":"\n<redacted>"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, tc.body)
			})
			_, err := newClient(t, srv.URL, func(c *dialpad.Config) { c.APIKey = tc.key }).Websocket(context.Background(), 1000)
			var apiErr *dialpad.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v is not an *APIError", err)
			}
			if apiErr.Message != tc.want {
				t.Errorf("Message = %q, want %q", apiErr.Message, tc.want)
			}
			if !strings.HasSuffix(err.Error(), ": "+tc.want) {
				t.Errorf("error %q does not end with the message", err)
			}
		})
	}
}
