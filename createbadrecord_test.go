package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCreateUnreadableRecord: a damaged record beside a --create spool
// (a disk error, an edit) used to stop that spool's next run with a bare
// JSON error, and other --events runs said nothing of it. The run still
// refuses to start (what the record names may be on Dialpad), but says
// which file, that what it named may still take events, how to find and
// delete it, and to remove the file; a run on another spool warns the
// same and starts.
func TestCreateUnreadableRecord(t *testing.T) {
	w := newCreateWorld(t)
	bin, srv := w.bin, w.srv
	dir := filepath.Join(os.Getenv("XDG_STATE_HOME"), "dialpad-tunnel", "spool")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(dir, spoolName(srv.URL(), nil)+"-create-call.created.json")
	if err := os.WriteFile(record, []byte(`{"made":[{"api_base":`), 0o600); err != nil {
		t.Fatal(err)
	}

	b, err := exec.Command(bin, createArgs(srv, w.h.URL, "--events", "call")...).CombinedOutput()
	out := string(b)
	if err == nil {
		t.Fatalf("started with an unreadable record:\n%s", out)
	}
	for _, want := range []string{record, "may still be there", "websockets list", "subscriptions list", "then remove"} {
		mustContain(t, out, want)
	}
	if ws, subs := counts(t, srv); ws != 0 || subs != 0 {
		t.Errorf("made %d websockets, %d subscriptions before refusing", ws, subs)
	}
	if _, err := os.Stat(record); err != nil {
		t.Errorf("the record is gone: %v", err)
	}

	sms := w.start(t, "sms")
	waitLogged(t, sms, `"msg":"starting"`)
	mustContain(t, sms.stdout.String(), "cannot be read")
	mustContain(t, sms.stdout.String(), strings.ReplaceAll(record, `\`, `\\`))
}

// TestCreateSpoolHeldByOtherEvents: while a `--create --events sms` run
// deletes what a crashed `--events call` run left, it holds the call
// spool; a call run starting then stops. Its message used to say another
// run with the same --events shares the spool (none does); it says a run
// with other --events may be deleting leftovers, and to start again.
func TestCreateSpoolHeldByOtherEvents(t *testing.T) {
	w := newCreateWorld(t)
	bin, srv := w.bin, w.srv
	callRun := w.start(t, "call")
	callRun.waitConnected(t, srv)
	killed(t, callRun)

	done, release := srv.HoldNextAnswer(http.MethodDelete, "/api/v2/subscriptions/call/1001")
	defer release()
	sms := w.start(t, "sms")
	waitHeld(t, sms, done)
	b, err := exec.Command(bin, createArgs(srv, w.h.URL, "--events", "call")...).CombinedOutput()
	if err == nil {
		t.Fatalf("a call run started while the sms run held its spool:\n%s", b)
	}
	out := string(b)
	mustContain(t, out, "in use")
	mustContain(t, out, "other --events")
	mustContain(t, out, "start this one again")
	release()
	waitLogged(t, sms, `"msg":"starting"`)
}
