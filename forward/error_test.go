package forward

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestRedirectLocationRedacted: a redirect's Location is shown as a
// handler URL is, without its password and with its query replaced, in
// the Result's error (the failure log line and the dead letter's reason);
// one that cannot be redacted is not shown at all. One that is no URL is
// a final 3xx like any other, not an error quoting it, retried.
func TestRedirectLocationRedacted(t *testing.T) {
	for _, tc := range []struct {
		name, location, shown string
	}{
		{"absolute", "https://admin:TOPSECRETPW@example.com/x?token=TOPSECRETTOKEN",
			`Location "https://admin:xxxxx@example.com/x?xxxxx"`},
		{"relative", "/login?next=%2Fhook&token=TOPSECRETTOKEN#TOPSECRETFRAGMENT",
			`Location "/login?xxxxx"`},
		{"unparsable", "https://admin:TOPSECRETPW@exa mple.com/x?token=TOPSECRETTOKEN",
			`Location (not shown: it may hold a password)`},
		{"bad port", "https://admin:TOPSECRETPW@example.com:TOPSECRETPORT/x",
			`Location (not shown: it may hold a password)`},
		{"no scheme", "admin:TOPSECRETPW@example.com/x",
			`Location (not shown: it may hold a password)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.Header().Set("Location", tc.location)
				w.WriteHeader(http.StatusFound)
			})
			f := newForwarder(t, rc.URL+"/hook", Config{})
			res := f.Deliver(context.Background(), Request{Body: []byte(jsonEvent)})
			if res.Status != http.StatusFound || res.Err == nil || res.Retryable {
				t.Fatalf("Deliver = %+v, want a final 302", res)
			}
			msg := res.Err.Error()
			if want := "302 Found, " + tc.shown + " (redirects are not followed; not retried)"; !strings.Contains(msg, want) {
				t.Errorf("error %q, want it to contain %q", msg, want)
			}
			var e *Error
			if !errors.As(res.Err, &e) {
				t.Fatalf("error %T, want *Error", res.Err)
			}
			if all := fmt.Sprintf("%s %+v %+v", msg, res, *e); strings.Contains(all, "TOPSECRET") {
				t.Errorf("the Location's secret reached the Result: %s", all)
			}
		})
	}
}
