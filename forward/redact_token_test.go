package forward

import (
	"net/url"
	"strings"
	"testing"
)

// TestRedactUserWithEmptyPassword: a token given as the user name with an
// empty password (https://TOKEN:@host, as curl -u TOKEN: and Stripe-style
// keys are written) is hidden as https://TOKEN@host is. (url.Password
// reports an empty password as set: the token was logged.)
func TestRedactUserWithEmptyPassword(t *testing.T) {
	for _, raw := range []string{
		"https://sk_live_SECRET:@hooks.example.com/in",
		"http://SECRET:@127.0.0.1:28080/hook",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := RedactURL(u); strings.Contains(got, "SECRET") {
			t.Errorf("RedactURL(%s) = %s: the token in the user name is shown", raw, got)
		}
		if got := redactLocation(raw); strings.Contains(got, "SECRET") {
			t.Errorf("redactLocation(%s) = %s: the token in the user name is shown", raw, got)
		}
	}
}
