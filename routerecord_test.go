package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// recordWorld is a state folder whose default and call route spools were
// made by one run that connected and delivered, the handler records that
// run left, and the command line of a listen on them.
type recordWorld struct {
	srv     *dialpadtest.Server
	hook    *hook
	base    string
	records map[string]string // spool file: its handler record's bytes
	args    func(key, forwardTo, call string) []string
}

// newRecordWorld runs listen once with --forward-to HOOK/hook and --route
// call=HOOK/call until an event of each route is delivered, and keeps the
// handler records it left.
func newRecordWorld(t *testing.T) *recordWorld {
	t.Helper()
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	w := &recordWorld{srv: srv, hook: newHook(t, nil), base: filepath.Join(t.TempDir(), "rec.spool")}
	w.args = func(key, forwardTo, call string) []string {
		return []string{"listen", "--api-base", srv.URL(), "--api-key", key, "--websocket-id", strconv.FormatInt(wsID, 10),
			"--spool", w.base, "--retry-wait-max", "20ms", "--forward-to", forwardTo, "--route", "call=" + call}
	}
	r := start(t, w.args(srv.APIKey(), w.hook.URL+"/hook", w.hook.URL+"/call")...)
	r.waitConnected(t, srv, 1)
	srv.Publish("call", callEvent(1))
	srv.Publish("sms", []byte(`{"id":1,"text":"hi"}`))
	w.hook.waitRequests(t, 2, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("run 1: %v", err)
	}
	w.records = w.readRecords(t)
	for path, rec := range w.records {
		if rec == "" {
			t.Fatalf("run 1 left no handler record beside %s", path)
		}
	}
	return w
}

// readRecords reads the handler record of each spool file ("" if none).
func (w *recordWorld) readRecords(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, path := range []string{w.base, routeSpoolPath(w.base, "call")} {
		b, err := os.ReadFile(handlerRecordPath(path))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		out[path] = string(b)
	}
	return out
}

// checkRecords fails the test unless the handler records are those run 1
// left.
func (w *recordWorld) checkRecords(t *testing.T, after string) {
	t.Helper()
	for path, got := range w.readRecords(t) {
		if want := w.records[path]; got != want {
			t.Errorf("after %s, the handler record of %s is %q, want it as the last run that ran left it, %q", after, path, got, want)
		}
	}
}

// TestRefusedRunKeepsHandlerRecord: a listen with mistyped handler URLs
// that stops because Dialpad refuses its API key (401) leaves the spools'
// handler records as they were: `events list` still names the handlers
// their events are for, and the next run with the right URLs warns of no
// moved handler. The records were rewritten before the first REST call,
// so the failed run's URLs became the spools' handlers.
func TestRefusedRunKeepsHandlerRecord(t *testing.T) {
	w := newRecordWorld(t)

	r := start(t, w.args("wr0ng-key", w.hook.URL+"/x", w.hook.URL+"/call-x")...)
	err := r.wait(t, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "the API key was refused") {
		t.Fatalf("refused run: error %v, want the API key refused\n%s", err, r.stdout.String())
	}
	w.checkRecords(t, "a run refused by Dialpad")

	var out, errOut syncBuffer
	if err := runArgs(context.Background(), &out, &errOut, []string{"dialpad-tunnel", "events", "list", "--spool", w.base}); err != nil {
		t.Fatalf("events list: %v\n%s", err, errOut.String())
	}
	note := errOut.String()
	mustContain(t, note, "; handler "+w.hook.URL+"/call)")
	if strings.Contains(note, "/call-x") {
		t.Errorf("events list names the refused run's handler:\n%s", note)
	}

	r = start(t, w.args(w.srv.APIKey(), w.hook.URL+"/hook", w.hook.URL+"/call")...)
	waitHandshakes(t, w.srv, 2)
	if err := r.stop(t); err != nil {
		t.Fatalf("run 3: %v", err)
	}
	if out := r.stdout.String(); strings.Contains(out, "handler URL of this route changed") {
		t.Errorf("the run after the refused one, with run 1's URLs, warned of a moved handler:\n%s", out)
	}
	w.checkRecords(t, "a run with the same URLs")
}

// TestKilledBeforeConnectKeepsHandlerRecord: a listen with new handler
// URLs killed (SIGKILL) while it waits for its websocket's URL, before
// any connection or delivery, leaves the handler records as they were:
// nothing in the spools is for the new handlers. A run that connects
// records them.
func TestKilledBeforeConnectKeepsHandlerRecord(t *testing.T) {
	bin := buildAgent(t)
	w := newRecordWorld(t)
	newArgs := w.args(w.srv.APIKey(), w.hook.URL+"/moved", w.hook.URL+"/call-moved")

	held, release := w.srv.HoldNextAnswer("GET", "/api/v2/websockets/"+newArgs[6])
	defer release()
	p := startAgent(t, bin, newArgs...)
	waitHeld(t, p, held)
	killed(t, p)
	w.checkRecords(t, "a run killed before it connected")

	// Written as the connection opens, which the fake sees first: wait
	// for it.
	r := start(t, newArgs...)
	r.waitConnected(t, w.srv, 1)
	for path, old := range w.records {
		deadline := time.Now().Add(10 * time.Second)
		for w.readRecords(t)[path] == old {
			if time.Now().After(deadline) {
				t.Fatalf("a run that connected with new handler URLs left the record of %s as it was: %q\n%s", path, old, r.stdout.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("run 3: %v", err)
	}
}
