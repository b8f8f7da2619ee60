package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
)

// TestDeadLetterKeepsTheHandlersAnswer: a handler that refuses an event
// with a reason in its answer's body gets that reason kept in the dead
// letter's, where `events show` and the log line show it: the status alone
// ("400 Bad Request") did not say what was wrong (a new user's walk-through).
func TestDeadLetterKeepsTheHandlersAnswer(t *testing.T) {
	r, path, id := refusedOne(t, func(w http.ResponseWriter) {
		http.Error(w, "missing field target", http.StatusBadRequest)
	})
	const said = "400 Bad Request (not retried); the handler answered: missing field target"
	r.stdout.waitFor(t, said, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	mustContain(t, mustCLI(t, "events", "show", id, "--spool", path), said)
}

// TestDeadLetterAnswerOnOneLine: a handler's multi-line answer is kept in
// the reason on one line, its line breaks and indents as single spaces,
// so the text log line, which quotes the reason, shows it as `events
// show` does. Its line breaks were kept as \n, which the log line showed
// as \\n; an escape sequence is still escaped, never sent raw.
func TestDeadLetterAnswerOnOneLine(t *testing.T) {
	r, path, id := refusedOne(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, "<!DOCTYPE HTML>\r\n<html lang=\"en\">\n  <p>no</p>\n")
	})
	const kept = `the handler answered: <!DOCTYPE HTML> <html lang="en"> <p>no</p>`
	r.stdout.waitFor(t, "FAILED", 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	mustContain(t, mustCLI(t, "events", "show", id, "--spool", path), kept)
	out := r.stdout.String()
	mustContain(t, out, strings.ReplaceAll(kept, `"`, `\"`)) // the log line quotes the reason
	if strings.Contains(out, `\\n`) || strings.Contains(out, `\n<html`) {
		t.Errorf("the log line shows the answer's line breaks escaped:\n%s", out)
	}
}

// refusedOne runs listen with a spool against a handler that answers
// every POST with refuse, and publishes one event: it returns the run,
// the spool's path and the event's delivery id, once the handler got it.
func refusedOne(t *testing.T, refuse func(w http.ResponseWriter)) (r *run, path, id string) {
	t.Helper()
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	ids := make(chan string, 1)
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case ids <- r.Header.Get(forward.DefaultIDHeader):
		default:
		}
		refuse(w)
	}))
	t.Cleanup(h.Close)
	path = filepath.Join(t.TempDir(), "events.spool")
	r = start(t, listenArgs(srv, wsID, h.URL, "--spool", path)...)
	r.waitConnected(t, srv, 1)
	typ, ev := dialpadtest.NewGenerator(43).Next()
	srv.Publish(typ, ev)
	return r, path, <-ids
}
