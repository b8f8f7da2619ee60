package forward

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzRetryAfter feeds Retry-After values, which the local handler sends,
// to retryAfter: a wait it accepts is never negative.
func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{"", "0", "120", "-1", "1.5", " 7", "+3", "9223372036", "99999999999999999999", "-99999999999999999999",
		"Sat, 01 Mar 2025 12:00:30 GMT", "Saturday, 01-Mar-25 12:01:00 GMT", "Sat Mar  1 12:00:05 2025", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := retryAfter(v, now)
		if !ok && d != 0 || d < 0 {
			t.Errorf("retryAfter(%q) = %v, %v", v, d, ok)
		}
	})
}

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
