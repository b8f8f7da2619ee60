package forward

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestResultKeepsTheRefusalsAnswer: a final refusal's body, the handler's
// own reason, is kept in Result.Answer (its start, escaped, the cut
// marked), for the dead letter's reason; a delivered event and a retried
// failure keep none.
func TestResultKeepsTheRefusalsAnswer(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, tc := range []struct {
		status int
		body   string
		want   string
	}{
		{400, `{"error":"missing field target"}` + "\n", `{"error":"missing field target"}`},
		{422, "bad\x1b[2J\nline", `bad\x1b[2J line`},
		// On one line: a text log line quoting it showed each \n as \\n.
		{401, "<!DOCTYPE HTML>\r\n<html lang=\"en\">\n\t  <p>no</p>\n", `<!DOCTYPE HTML> <html lang="en"> <p>no</p>`},
		{400, long, strings.Repeat("x", answerShown) + "…"},
		{400, "", ""},
		{200, "fine", ""},
	} {
		rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
			w.WriteHeader(tc.status)
			w.Write([]byte(tc.body))
		})
		f := newForwarder(t, rc.URL+"/hook", Config{})
		res := f.Deliver(context.Background(), Request{ID: "d", Body: []byte(jsonEvent)})
		if res.Answer != tc.want {
			t.Errorf("%d %q: Answer %q, want %q", tc.status, tc.body, res.Answer, tc.want)
		}
	}
	// Retried, then final: the last answer's body.
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(503)
			w.Write([]byte("busy"))
			return
		}
		w.WriteHeader(400)
		w.Write([]byte("no such call"))
	})
	f := newForwarder(t, rc.URL+"/hook", Config{})
	if res := f.Deliver(context.Background(), Request{ID: "d", Body: []byte(jsonEvent)}); res.Answer != "no such call" || res.Attempts != 2 {
		t.Errorf("Answer %q after %d attempts, want the final 400's %q after 2", res.Answer, res.Attempts, "no such call")
	}
}
