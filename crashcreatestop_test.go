package main

import (
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/filelock"
)

// TestCreateStopWhileDeletingLeftovers: Ctrl-C while a `listen --create
// --events sms` run deletes what a crashed `--events call` run left (the
// fake holds a DELETE's answer) stops it at once, before it makes
// anything; its error names what was not deleted and says the next run
// deletes it, and the call spool's record still names it. The next call
// run deletes it, and logs that before what it created for itself. The
// deletes used to go on after Ctrl-C, for up to 30 s (the clean-up's
// bound), while the call spool stayed locked; the run then made its
// websocket and subscription only to delete them; and a run logged
// "created for this run" before the lines deleting the leftovers.
func TestCreateStopWhileDeletingLeftovers(t *testing.T) {
	if !filelock.Supported {
		t.Skip("no file locks on this system")
	}
	w := newCreateWorld(t)
	srv := w.srv
	w.crashed(t, "call")

	done, release := srv.HoldNextAnswer(http.MethodDelete, "/api/v2/subscriptions/call/1001")
	defer release()
	before := len(srv.RESTCalls())
	sms := w.start(t, "sms")
	waitHeld(t, sms, done)
	if err := sms.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-sms.exited:
		sms.exited <- err
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10 s after Ctrl-C, its DELETE held:\n%s", sms.stdout.String())
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 128+int(syscall.SIGINT) {
		t.Errorf("exit = %v; want 130, as a command a stop signal cut short", err)
	}
	msg := sms.stderr.String()
	mustContain(t, msg, "not deleted: websocket 1000, subscriptions call 1001")
	mustContain(t, msg, "the next `listen --create` run on this API deletes")
	mustContain(t, msg, "`dialpad-tunnel websockets delete 1000 --api-base "+srv.URL()+"`")
	if n := calls(srv, before, http.MethodPost, "/api/v2/websockets"); n != 0 {
		t.Errorf("the stopped run created %d websockets", n)
	}
	rec, err := readCreatedRecord(createSpoolFile(srv, "call", ".created.json"))
	if err != nil || len(rec.Made) != 1 || rec.Made[0].Websocket != 1000 {
		t.Fatalf("the call record = %+v, %v; want the crashed run's entry kept", rec.Made, err)
	}
	release()

	before = len(srv.RESTCalls())
	next := w.start(t, "call")
	next.waitConnected(t, srv)
	if n := calls(srv, before, http.MethodDelete, "/api/v2/websockets/1000"); n != 1 {
		t.Errorf("%d × DELETE websocket 1000; want the next run to delete it", n)
	}
	out := next.stdout.String()
	deleting, made := strings.Index(out, "did not delete what it made"), strings.Index(out, `"msg":"created for this run"`)
	if deleting < 0 || made < deleting {
		t.Errorf("the leftovers' lines (at %d) do not come before \"created for this run\" (at %d):\n%s", deleting, made, out)
	}
	if err := next.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("next call run: %v", err)
	}
	if ws, subs := counts(t, srv); ws != 0 || subs != 0 {
		t.Errorf("the fake has %d websockets, %d subscriptions; want none", ws, subs)
	}
}
