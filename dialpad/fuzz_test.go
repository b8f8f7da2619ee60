package dialpad

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzURLTimes feeds websocket_url values, which come from the Dialpad
// API, to the functions that read them: none panics, and neither the
// redacted URL nor an error shows a token.
func FuzzURLTimes(f *testing.F) {
	tok := func(payload string) string {
		enc := base64.RawURLEncoding.EncodeToString
		return "wss://h.example/events/" + enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(payload)) + ".c2lnbmF0dXJlLXNpZ25hdHVyZQ"
	}
	for _, s := range []string{
		tok(`{"exp":1700000000}`), tok(`{"exp":1700000000.123,"iat":1}`), tok(`{"exp":1.7e9}`),
		tok(`{"exp":1700000000}`) + "?x=1", tok(`{"exp":null}`), tok(`{"exp":"soon"}`), tok(`{"exp":-5}`),
		tok(`[1]`), tok(`{"exp":1e400}`), tok(`{"exp":1700000000,"iat":"x"}`),
		"wss://h.example/events/aGVsbG8.d29ybGQ", "wss://h.example/events/a.!!!.c", "wss://h.example/events/", "",
		"ws://user:pw@h/x", "http://h/x", "wss:///x", "wss://h/events/" + strings.Repeat("t", 40) + "/more",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		exp, iat, err := URLTimes(s)
		if err == nil && (!exp.After(time.Unix(0, 0)) || iat.Before(time.Unix(0, 0)) && !iat.IsZero()) {
			t.Errorf("URLTimes(%q) = %v, %v: want times after the epoch", s, exp, iat)
		}
		cerr := CheckURL(s)
		red := RedactURL(s)
		token, terr := urlToken(s)
		if terr != nil || len(token) <= maxShownSegment {
			return
		}
		u, _ := url.Parse(s)
		if strings.Contains(u.Scheme+"://"+u.Host, token) {
			return
		}
		if strings.Contains(red, token) {
			t.Errorf("RedactURL(%q) = %q: shows the token", s, red)
		}
		for _, e := range []error{err, cerr} {
			if e != nil && strings.Contains(e.Error(), token) {
				t.Errorf("error for %q shows the token: %v", s, e)
			}
		}
	})
}

// FuzzRedactKey checks that redactKey removes a key that stands as a
// token of its own, whatever surrounds it.
func FuzzRedactKey(f *testing.F) {
	f.Add("invalid or missing API key", "k")
	f.Add("Bearer abc123 is not valid", "abc123")
	f.Add(`{"error":{"message":"key=abc is bad"}}`, "abc")
	f.Add("aaaa aa", "aa")
	f.Fuzz(func(t *testing.T, s, key string) {
		redactKey(s, key, "<redacted>") // any text, any key: no panic
		if key == "" || strings.Contains("<redacted>", key) {
			return
		}
		if alone := redactKey(" "+key+" ", key, "<redacted>"); strings.Contains(alone, key) {
			t.Errorf("redactKey(%q) leaves the key standing alone: %q", key, alone)
		}
	})
}
