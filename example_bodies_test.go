package main

import (
	"io"
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
	sign := func(payload string) string {
		tok, err := signing.SignHS256([]byte(payload), secret)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, ex := range exampleHandlers() {
		t.Run(ex.name, func(t *testing.T) {
			if ex.skip != "" {
				t.Skip(ex.skip)
			}
			unsigned := runExample(t, ex.name, "") // DIALPAD_SECRET empty: plain JSON events
			signed := runExample(t, ex.name, secret)
			for _, tc := range []struct {
				name, url, body string
				status          int
			}{
				{"unsigned truncated", unsigned.url, `{"call_id":1,`, http.StatusBadRequest},
				{"unsigned with trailing bytes", unsigned.url, `{"call_id":1} x`, http.StatusBadRequest},
				{"unsigned odd target", unsigned.url, `{"on_duty_status":"available","target":5}`, http.StatusOK},
				{"signed null", signed.url, sign("null"), http.StatusBadRequest},
				{"signed odd target", signed.url, sign(`{"on_duty_status":"available","target":"x"}`), http.StatusOK},
				// Over the handlers' 8 MiB: a final answer, not a dropped
				// connection the agent would retry until --max-age.
				{"too large", unsigned.url, `{"call_id":1,"pad":"` + strings.Repeat("x", 9<<20) + `"}`, http.StatusRequestEntityTooLarge},
			} {
				if got := postStatus(t, tc.url, tc.body); got != tc.status {
					t.Errorf("%s: handler answered %d, want %d", tc.name, got, tc.status)
				}
			}
			if ex.name == "python" {
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
