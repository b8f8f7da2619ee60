package dialpad

import (
	"net/http"
	"net/url"
	"testing"
)

// TestSameOrigin: a redirect is followed only within one origin, the
// default port counted as given (https://h and https://h:443 were taken
// for two, and the call refused for nothing), case aside.
func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		same     bool
	}{
		{"https://dialpad.com/a", "https://dialpad.com:443/b", true},
		{"http://127.0.0.1:80/a", "http://127.0.0.1/b", true},
		{"https://Dialpad.com/a", "HTTPS://dialpad.COM/b", true},
		{"https://dialpad.com/a", "http://dialpad.com/b", false},
		{"https://dialpad.com/a", "https://dialpad.com:8443/b", false},
		{"https://dialpad.com/a", "https://evil.dialpad.com/b", false},
		{"http://[::1]:8080/a", "http://[::1]:8080/b", true},
	} {
		from, _ := url.Parse(tc.from)
		to, _ := url.Parse(tc.to)
		err := sameOrigin(&http.Request{URL: to}, []*http.Request{{URL: from}})
		if (err == nil) != tc.same {
			t.Errorf("%s → %s: %v, want same origin %v", tc.from, tc.to, err, tc.same)
		}
	}
}
