package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
)

// TestExampleHandlersAnswerBodiesAsDocumented: every example handler
// answers 400 to a body that is not an event (not one JSON object), signed
// or not, and 200 to an event it cannot fully describe, as README says;
// none answers 200 to a truncated body, nor leaves a request unanswered.
func TestExampleHandlersAnswerBodiesAsDocumented(t *testing.T) {
	const secret = "example-handler-secret"
	sign := func(payload string) string { return signedFor(t, payload, secret) }
	eachExample(t, func(t *testing.T, name string) {
		unsigned := runExample(t, name, "") // DIALPAD_SECRET empty: plain JSON events
		signed := runExample(t, name, secret)
		for _, tc := range []struct {
			name, url, body string
			status          int
		}{
			{"unsigned truncated", unsigned.url, `{"call_id":1,`, http.StatusBadRequest},
			{"unsigned with trailing bytes", unsigned.url, `{"call_id":1} x`, http.StatusBadRequest},
			{"unsigned odd target", unsigned.url, `{"on_duty_status":"available","target":5}`, http.StatusOK},
			{"signed null", signed.url, sign("null"), http.StatusBadRequest},
			{"signed odd target", signed.url, sign(`{"on_duty_status":"available","target":"x"}`), http.StatusOK},
			// No JSON, which the Python one took for events (its json
			// reads NaN, and bytes with a byte order mark or in UTF-16).
			{"signed NaN", signed.url, sign(`{"call_id":NaN,"state":"hangup"}`), http.StatusBadRequest},
			{"unsigned Infinity", unsigned.url, `{"call_id":Infinity}`, http.StatusBadRequest},
			{"signed with a byte order mark", signed.url, sign("\ufeff" + `{"call_id":1}`), http.StatusBadRequest},
			{"signed UTF-16", signed.url, sign("{\x00}\x00"), http.StatusBadRequest},
			// A query is not part of the path (a token in --forward-to):
			// the Node and Python ones answered 404, the Go one 200.
			{"query after the path", signed.url + "?token=x", sign(`{"call_id":1,"state":"hangup"}`), http.StatusOK},
			// Over the handlers' 8 MiB: a final answer, not a dropped
			// connection the agent would retry until --max-age.
			{"too large", unsigned.url, `{"call_id":1,"pad":"` + strings.Repeat("x", 9<<20) + `"}`, http.StatusRequestEntityTooLarge},
		} {
			if got := postStatus(t, tc.url, tc.body); got != tc.status {
				t.Errorf("%s: handler answered %d, want %d", tc.name, got, tc.status)
			}
		}
		if name == "python" {
			// Its server cannot read a body without a length (chunked):
			// it says so, where it read an empty body and answered 400.
			req, err := http.NewRequest(http.MethodPost, unsigned.url, io.MultiReader(strings.NewReader(`{"call_id":1}`)))
			if err != nil {
				t.Fatal(err)
			}
			req.Close = true
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("chunked POST: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusLengthRequired {
				t.Errorf("chunked body: handler answered %d, want 411", resp.StatusCode)
			}
		}
	})
}

// postStatus is post that returns 0 when the handler closed the connection
// without an answer.
func postStatus(t *testing.T, url, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Close = true // no idle connection left for goleak
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestExampleHandlersListenOnIPv6: HOST=::1 works as HOST=127.0.0.1 does
// (the Python one, IPv4 only, exited with "Address family for hostname
// not supported").
func TestExampleHandlersListenOnIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	ln.Close()
	eachExample(t, func(t *testing.T, name string) {
		h := runExampleEnv(t, name, []string{"DIALPAD_SECRET=", "HOST=::1", "PORT=0"})
		if !strings.HasPrefix(h.url, "http://[::1]:") {
			t.Errorf("handler says it listens on %s, want http://[::1]:PORT/…", h.url)
		}
		if got := postStatus(t, h.url, `{"call_id":1,"state":"hangup"}`); got != http.StatusOK {
			t.Errorf("POST %s: handler answered %d, want 200", h.url, got)
		}
	})
}

// signedFor is payload as an HS256 JWT signed with secret.
func signedFor(t *testing.T, payload, secret string) string {
	t.Helper()
	tok, err := signing.SignHS256([]byte(payload), secret)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
