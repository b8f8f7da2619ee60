package forward

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
)

func TestNewRejectsBadConfig(t *testing.T) {
	const ok = "http://127.0.0.1:3000/hook"
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no URL", Config{}, "forward: URL is required"},
		{"relative URL", Config{URL: "/hook"}, `forward: URL "/hook" is not an absolute http or https URL`},
		{"no host", Config{URL: "http:///hook"}, "is not an absolute http or https URL"},
		{"other scheme", Config{URL: "ws://127.0.0.1/hook"}, `forward: URL "ws://127.0.0.1/hook" is not an absolute`},
		{"password redacted", Config{URL: "ftp://u:pw@h/"}, `forward: URL "ftp://u:xxxxx@h/"`},
		{"no scheme, password not shown", Config{URL: "alice:pw-s3cret@localhost:3000/hook"}, "forward: URL is not an absolute http or https URL such as"},
		{"password with '#', not shown", Config{URL: "http://u:pw-s3cret#x@localhost:3000"}, "forward: URL: it does not parse (not shown: it may hold a password"},
		{"unparsable", Config{URL: "http://h/\x7f"}, "forward: URL: net/url: invalid control character in URL"},
		{"bad content type", Config{URL: ok, ContentTypeJWT: "a\nb"}, `forward: ContentTypeJWT "a\nb" is not a valid header value`},
		{"bad id header", Config{URL: ok, IDHeader: "X Id"}, `forward: IDHeader "X Id" is not a valid header name`},
		{"same header twice", Config{URL: ok, IDHeader: "x-a", TypeHeader: "X-A"}, `is used twice`},
		{"extra names ours", Config{URL: ok, Headers: http.Header{"x-dialpad-tunnel-attempt": {"9"}}}, "forward: Headers: X-Dialpad-Tunnel-Attempt is the tunnel's own header and cannot be replaced"},
		{"extra names Standard Webhooks", Config{URL: ok, Standard: &signing.StandardSecret{}, Headers: http.Header{"webhook-id": {"mine"}}}, "forward: Headers: Webhook-Id is the tunnel's own header and cannot be replaced"},
		{"extra Content-Length", Config{URL: ok, Headers: http.Header{"Content-Length": {"9"}}}, "forward: Headers: Content-Length is set from the body"},
		{"extra bad name", Config{URL: ok, Headers: http.Header{"X:Y": {"1"}}}, `forward: Headers: "X:Y" is not a valid header name`},
		{"extra bad value not echoed", Config{URL: ok, Headers: http.Header{"Authorization": {"s3cret\r\n"}}}, "forward: Headers: value of Authorization is not a valid header value"},
		{"negative", Config{URL: ok, MaxAttempts: -2}, "may not be negative"},
		{"min above max", Config{URL: ok, RetryWaitMin: time.Minute, RetryWaitMax: time.Second}, "forward: RetryWaitMin 1m0s exceeds RetryWaitMax 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := New(tt.cfg)
			if err == nil {
				f.Close()
				t.Fatalf("New succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), ":pw@") {
				t.Errorf("New: %q shows a secret", err)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	cfg := Config{URL: "https://localhost:8443/hook"}
	if _, err := cfg.check(); err != nil {
		t.Fatal(err)
	}
	st, ok := cfg.Transport.(*transport)
	if !ok || st.maxIdle != DefaultConcurrency || st.timeout != DefaultTimeout || st.proxy == nil {
		t.Fatalf("Transport = %#v, want the synchronous transport with a keep-alive pool of %d, the timeout and proxy from env", cfg.Transport, DefaultConcurrency)
	}
	tr, ok := st.fallback.(*http.Transport)
	if !ok || tr.MaxIdleConnsPerHost != DefaultConcurrency || tr.Proxy == nil || !tr.DisableCompression {
		t.Errorf("fallback Transport = %#v, want keep-alive pool of %d, proxy from env, no gzip", st.fallback, DefaultConcurrency)
	}
	got := []any{cfg.ContentTypeJSON, cfg.ContentTypeJWT, cfg.UserAgent, cfg.IDHeader, cfg.AttemptHeader, cfg.TypeHeader,
		cfg.Timeout, cfg.MaxAttempts, cfg.RetryWaitMin, cfg.RetryWaitMax, cfg.Concurrency, cfg.Logger != nil}
	want := []any{"application/json", "application/jwt", "dialpad-tunnel/dev", "X-Dialpad-Tunnel-Delivery-Id",
		"X-Dialpad-Tunnel-Attempt", "X-Dialpad-Tunnel-Event-Type", 10 * time.Second, 5, 250 * time.Millisecond, 30 * time.Second, 16, true}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("default %d = %v, want %v", i, got[i], want[i])
		}
	}

	// A long RetryWaitMin with no RetryWaitMax is not an error.
	cfg = Config{URL: "http://127.0.0.1/", RetryWaitMin: time.Minute, Concurrency: 3}
	if _, err := cfg.check(); err != nil || cfg.RetryWaitMax != time.Minute {
		t.Errorf("check: %v, RetryWaitMax %v; want nil, 1m", err, cfg.RetryWaitMax)
	}
	if tr := cfg.Transport.(*transport); tr.maxIdle != 3 {
		t.Errorf("idle connections kept = %d, want Concurrency 3", tr.maxIdle)
	}
}

// TestRedactURL: a handler URL in messages and logs shows no password, no
// user name without a password (a token), and no query, also when an unencoded '#' or '/' in the password moved it into
// the fragment or the path, or a missing scheme hid it in the rest.
func TestRedactURL(t *testing.T) {
	for raw, want := range map[string]string{
		"http://127.0.0.1:3000/hook":                                    "http://127.0.0.1:3000/hook",
		"http://u:s3cret@127.0.0.1:3000/hook?t=s3":                      "http://u:xxxxx@127.0.0.1:3000/hook?xxxxx",
		"http://alice:#s3cret@127.0.0.1:3000/hook":                      "http://alice:",
		"http://alice:/s3cret@127.0.0.1:3000/hook":                      "http://alice:/xxxxx",
		"http://alice:8080#s3cret@127.0.0.1/hook":                       "http://alice:8080",
		"http://alice:8080/s3cret@127.0.0.1/hook":                       "http://alice:8080/xxxxx",
		"alice:s3cret@127.0.0.1:3000/hook":                              urlNotShown,
		"https://s3cret@example.com/hook":                               "https://xxxxx@example.com/hook",
		"http://127.0.0.1/app;jsessionid=s3cret/hook;v=s3cret?q=s3cret": "http://127.0.0.1/app;xxxxx/hook;xxxxx?xxxxx",
		"http://127.0.0.1/hook%3Bs3cret":                                "http://127.0.0.1/hook;xxxxx",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if got := RedactURL(u); got != want || strings.Contains(got, "s3cret") {
			t.Errorf("RedactURL(%s) = %s, want %s", raw, got, want)
		}
	}
}
