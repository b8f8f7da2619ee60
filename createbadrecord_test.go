package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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
// deletes what a crashed `--events call` run left (the fake holds a
// DELETE's answer), a call run starts: it deletes its crashed run's
// leftovers itself, logs the gap, and runs; the sms run, once answered,
// leaves the call record to it. The sms run used to hold the call spool
// and its record's lock through its deletes (up to 30 s each), so the
// call run waited 2 s and stopped with "in use".
func TestCreateSpoolHeldByOtherEvents(t *testing.T) {
	w := newCreateWorld(t)
	srv := w.srv
	w.crashed(t, "call")

	done, release := srv.HoldNextAnswer(http.MethodDelete, "/api/v2/subscriptions/call/1001")
	defer release()
	sms := w.start(t, "sms")
	waitHeld(t, sms, done)
	call := w.start(t, "call")
	waitRestartGap(t, call, "the call run after a crashed one logged no gap")
	call.waitConnected(t, srv)
	mustContain(t, call.stdout.String(), "an earlier `listen --create` run on this spool did not delete what it made")
	release()
	waitLogged(t, sms, `"msg":"starting"`)
	rec, err := readCreatedRecord(createSpoolFile(srv, "call", ".created.json"))
	if err != nil || len(rec.Made) != 1 || rec.Made[0].Websocket == 1000 {
		t.Errorf("the call record = %+v, %v; want only the live call run's entry", rec.Made, err)
	}
	for _, p := range []*agentProcess{sms, call} {
		if err := p.signal(t, syscall.SIGTERM); err != nil {
			t.Fatalf("stop: %v\n%s", err, p.stderr.String())
		}
	}
	if ws, subs := counts(t, srv); ws != 0 || subs != 0 {
		t.Errorf("after both stopped the fake has %d websockets, %d subscriptions; want none", ws, subs)
	}
}
