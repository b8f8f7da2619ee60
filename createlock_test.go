package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/filelock"
)

// createSpoolFile is the file of the default --create spool of srv for
// events (e.g. "call") with ext (".created.json", ".created.lock").
func createSpoolFile(srv *dialpadtest.Server, events, ext string) string {
	return filepath.Join(os.Getenv("XDG_STATE_HOME"), "dialpad-tunnel", "spool", spoolName(srv.URL(), nil)+"-create-"+events+ext)
}

// TestCreateRecordLockHeldThroughCleanUp: a `listen --create` run holds
// its record's lock (<spool>.created.lock) until what it made is deleted
// and its record says so. Its spool used to be let go when the run closed
// it and taken again for the clean-up: a run with other --events starting
// in between found it free and took the stopping run for a crashed one.
// A run with other --events starting during the clean-up leaves it alone.
func TestCreateRecordLockHeldThroughCleanUp(t *testing.T) {
	if !filelock.Supported {
		t.Skip("no file locks on this system")
	}
	w := newCreateWorld(t)
	srv := w.srv
	callRun := w.start(t, "call")
	callRun.waitConnected(t, srv)
	done, release := srv.HoldNextAnswer(http.MethodDelete, "/api/v2/subscriptions/call/1001")
	defer release()
	if err := callRun.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitHeld(t, callRun, done) // in its clean-up

	lock, err := os.OpenFile(createSpoolFile(srv, "call", ".created.lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("the record's lock: %v", err)
	}
	defer lock.Close()
	if held, err := filelock.TryLock(lock); err != nil || held {
		t.Fatalf("TryLock of the record's lock during the clean-up = %t, %v; want held by the run", held, err)
	}
	before := len(srv.RESTCalls())
	sms := w.start(t, "sms")
	waitLogged(t, sms, `"msg":"starting"`)
	if strings.Contains(sms.stdout.String(), "an earlier") {
		t.Errorf("warned of the stopping call run as crashed:\n%s", sms.stdout.String())
	}
	if n := calls(srv, before, http.MethodDelete, "/api/v2/websockets/1000"); n != 0 {
		t.Errorf("the sms run deleted the call run's websocket during its clean-up")
	}
	release()
	err = <-callRun.exited
	callRun.exited <- err // for the test's clean-up
	if err != nil {
		t.Fatalf("call run: %v\n%s", err, callRun.stderr.String())
	}
	if held, err := filelock.TryLock(lock); err != nil || !held {
		t.Errorf("TryLock once the run is gone = %t, %v; want free", held, err)
	}
	if err := sms.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("sms run: %v", err)
	}
	if ws, subs := counts(t, srv); ws != 0 || subs != 0 {
		t.Errorf("the fake has %d websockets, %d subscriptions; want none", ws, subs)
	}
}

// TestCreateRoutesOnlyRunKeepsItsEntry: while a `--create --events sms`
// run deletes what a crashed `--events call` run left (its DELETE held), a
// routes-only `--events call` run starts, whose route file is new: it
// took none of the spool locks the sms run holds, so it started, wrote its
// entry in the call record, and the sms run then rewrote the record
// without it: a crash of that run would have left its websocket and
// subscription on Dialpad, named nowhere. It now waits for the record's
// lock and stops with "in use", to be started again; its entry is kept.
func TestCreateRoutesOnlyRunKeepsItsEntry(t *testing.T) {
	if !filelock.Supported {
		t.Skip("no file locks on this system")
	}
	w := newCreateWorld(t)
	bin, srv := w.bin, w.srv
	w.crashed(t, "call")

	done, release := srv.HoldNextAnswer(http.MethodDelete, "/api/v2/subscriptions/call/1001")
	defer release()
	sms := w.start(t, "sms")
	waitHeld(t, sms, done)

	routesOnly := []string{"listen", "--api-base", srv.URL(), "--api-key", srv.APIKey(), "--create", "--events", "call",
		"--route", "call=" + w.h.URL, "--log-format", "json"}
	call := startAgent(t, bin, routesOnly...)
	exited := false
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(call.stdout.String(), `"msg":"starting"`); time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-call.exited:
			call.exited <- err
			exited = true
		default:
		}
		if exited {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the routes-only call run neither started nor stopped within 20 s:\n%s", call.stdout.String())
		}
	}
	if exited {
		out := call.stdout.String() + call.stderr.String()
		mustContain(t, out, "in use")
		mustContain(t, out, "other --events")
		mustContain(t, out, "start this one again")
	}
	release()
	waitLogged(t, sms, `"msg":"starting"`)
	if exited { // started again, as the message says
		call = startAgent(t, bin, routesOnly...)
		waitLogged(t, call, `"msg":"starting"`)
	}
	rec, err := readCreatedRecord(createSpoolFile(srv, "call", ".created.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Made) != 1 || rec.Made[0].Websocket == 0 || rec.Made[0].Websocket == 1000 {
		t.Errorf("the call record names %+v; want only the live routes-only run's entry", rec.Made)
	}
	for _, p := range []*agentProcess{sms, call} {
		if err := p.signal(t, syscall.SIGTERM); err != nil {
			t.Fatalf("stop: %v", err)
		}
	}
	if ws, subs := counts(t, srv); ws != 0 || subs != 0 {
		t.Errorf("after both stopped the fake has %d websockets, %d subscriptions; want none", ws, subs)
	}
}
