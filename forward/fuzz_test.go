package forward

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzRedactURL feeds handler URLs (the user's --forward-to) and Location
// headers (the handler's answers) to RedactURL: a password, written once
// in the URL, never shows.
func FuzzRedactURL(f *testing.F) {
	for _, s := range []string{"http://alice:s3cretpassw0rd@localhost:3000/hook", "http://alice:#s3cretpassw0rd@host/x",
		"http://alice:/s3cretpassw0rd@host", "https://s3cretpassw0rd@host/hook", "https://s3cretpassw0rd:@host/hook",
		"localhost:s3cretpassw0rd@x", "/hook;jsessionid=s3cretpassw0rd", "http://h/p?token=s3cretpassw0rd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.Parse(s)
		if err != nil {
			return
		}
		shown := RedactURL(u)
		loc := redactLocation(s)
		if u.User == nil {
			return
		}
		pw, ok := u.User.Password()
		if !ok || pw == "" {
			pw = u.User.Username()
		}
		if len(pw) < 8 || strings.Count(s, pw) != 1 || strings.Trim(pw, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
			return
		}
		if strings.Contains(shown, pw) || strings.Contains(loc, pw) {
			t.Errorf("RedactURL(%q) = %q, redactLocation = %q: shows %q", s, shown, loc, pw)
		}
	})
}
