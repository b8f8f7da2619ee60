package main

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestListenCreateAfterCrashLogsGapAndDeletesLeftovers: a `listen
// --create` run killed with SIGKILL leaves its websocket and subscription
// on Dialpad, which take the events sent while no agent runs. The next
// --create run on the same spool logs that window as a gap (gaps=1),
// deletes the leftovers, and delivers what is sent after it started. It
// used to say nothing (gaps=0) and leave them there: a silent loss.
func TestListenCreateAfterCrashLogsGapAndDeletesLeftovers(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir()) // the default --create spool, as users run it
	bin := buildAgent(t)
	srv := newFake(t, dialpadtest.Config{})
	h := newHook(t, nil)
	args := createArgs(srv, h.URL, "--events", "sms", "--log-format", "json")
	gen := dialpadtest.NewGenerator(7)

	first := startAgent(t, bin, args...)
	first.waitConnected(t, srv)
	if d := srv.Publish("sms", gen.SMS()); d.Frames != 1 {
		t.Fatalf("publish to the first run: %+v", d)
	}
	h.waitRequests(t, 1, 10*time.Second)
	killedAt := time.Now()
	var exit *exec.ExitError
	if err := first.signal(t, syscall.SIGKILL); !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("first run's exit = %v, want killed by SIGKILL", err)
	}
	if ws, subs := counts(t, srv); ws != 1 || subs != 1 {
		t.Fatalf("after the crash the fake has %d websockets, %d subscriptions; want the first run's 1 and 1", ws, subs)
	}
	// Sent while no agent runs: Dialpad sends it to the first run's
	// subscription, which no one reads. It is lost; the next run must say so.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.WaitConnections(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if d := srv.Publish("sms", gen.SMS()); d.Subscriptions != 1 {
		t.Fatalf("publish while down: %+v", d)
	}
	sentWhileDown := time.Now()
	before := len(srv.RESTCalls())

	second := startAgent(t, bin, args...)
	gap := waitRestartGap(t, second, "the --create run after a crashed one logged no gap")
	// The window starts at the crashed run's last sign of life (its
	// spool's last write, at most a minute before the kill; the second is
	// for a coarse file time), before the event sent while it was down.
	if gap.After(killedAt.Add(time.Second)) || gap.After(sentWhileDown) || gap.Before(killedAt.Add(-2*time.Minute)) {
		t.Errorf("gap from %s; want at the crashed run's last sign of life, before %s", gap.Format(time.RFC3339Nano), killedAt.Format(time.RFC3339Nano))
	}
	// The leftovers were deleted before the new run listened.
	for _, c := range []struct{ method, path string }{
		{http.MethodDelete, "/api/v2/subscriptions/sms/1001"},
		{http.MethodDelete, "/api/v2/websockets/1000"},
	} {
		if calls(srv, before, c.method, c.path) != 1 {
			t.Errorf("no %s %s: the crashed run's leftovers were not deleted; calls %+v", c.method, c.path, srv.RESTCalls()[before:])
		}
	}
	if ws, subs := counts(t, srv); ws != 1 || subs != 1 {
		t.Errorf("the fake has %d websockets, %d subscriptions; want only the new run's 1 and 1", ws, subs)
	}
	// Sent after the restart: delivered, once.
	if d := srv.Publish("sms", gen.SMS()); d.Frames != 1 || d.Subscriptions != 1 {
		t.Fatalf("publish to the second run: %+v", d)
	}
	h.waitRequests(t, 2, 10*time.Second)
	if err := second.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("second run: %v", err)
	}
	out := second.stdout.String()
	if !strings.Contains(out, `"msg":"stopped"`) || !strings.Contains(out, `"gaps":1,`) {
		t.Errorf("the stopped line does not count the gap (gaps=1):\n%s", out)
	}
	if ws, subs := counts(t, srv); ws != 0 || subs != 0 {
		t.Errorf("after a clean stop the fake has %d websockets, %d subscriptions; want none", ws, subs)
	}
	// A clean stop leaves no record: the next run logs no gap.
	var spools, records []string
	filepath.WalkDir(os.Getenv("XDG_STATE_HOME"), func(path string, d fs.DirEntry, err error) error {
		switch {
		case strings.HasSuffix(path, ".created.json"):
			records = append(records, path)
		case strings.HasSuffix(path, spoolExt):
			spools = append(spools, path)
		}
		return nil
	})
	if len(spools) != 1 || len(records) != 0 {
		t.Errorf("spool files %v and records %v after a clean stop; want one spool and no record", spools, records)
	}
}

// TestCreateRecordOtherAPIBase: a record naming what a run made on
// another API base (an explicit --spool shared across environments) is
// warned of with the commands that delete it there, and kept, never
// deleted with this environment's key; it is no gap of this run's.
func TestCreateRecordOtherAPIBase(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	path := filepath.Join(t.TempDir(), "events.created.json")
	other := createdEntry{APIBase: "https://sandbox.dialpad.com", Websocket: 1000, Subscriptions: []createdSub{{dialpad.SMS, 1001}}}
	if err := writeCreatedRecord(path, createdRecord{Made: []createdEntry{other}}); err != nil {
		t.Fatal(err)
	}
	ws, err := srv.AddWebsocketForAll("")
	if err != nil || ws != 1000 {
		t.Fatalf("fake websocket %d, %v", ws, err)
	}
	var logged strings.Builder
	r := &createRecorder{client: testClient(t, srv), apiBase: srv.URL(), log: slog.New(slog.NewTextHandler(&logged, nil))}
	before := len(srv.RESTCalls())
	_, downSince, err := r.claim(context.Background(), path, time.Now(), func(func(created) error) (created, error) { return created{websocket: 2000}, nil })
	if err != nil || !downSince.IsZero() {
		t.Fatalf("claim = %v, %v; want no leftover on this API base", downSince, err)
	}
	for _, c := range srv.RESTCalls()[before:] {
		if c.Method == http.MethodDelete {
			t.Errorf("deleted across environments: %+v", c)
		}
	}
	mustContain(t, logged.String(), "`dialpad-tunnel subscriptions delete --type sms 1001 --api-base https://sandbox.dialpad.com` and `dialpad-tunnel websockets delete 1000 --api-base https://sandbox.dialpad.com`")
	if err := r.release(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rec createdRecord
	if err := json.Unmarshal(b, &rec); err != nil || len(rec.Made) != 1 || rec.Made[0].APIBase != other.APIBase {
		t.Errorf("record after release: %s (%v); want the other API base's entry kept", b, err)
	}
}

// TestCreateRecordLeftovers: a record's entry on this API base is a
// leftover: deleted (already gone is fine) and dropped from the record,
// or, when deleting fails, warned of with the commands that delete it
// and kept for the next run.
func TestCreateRecordLeftovers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		exists   bool // the leftovers are still on the fake
		failWith int  // the fake refuses the deletes with this status
		kept     int  // entries left in the record after release
	}{
		{name: "deleted", exists: true},
		{name: "already gone"},
		{name: "delete refused", exists: true, failWith: http.StatusForbidden, kept: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t, dialpadtest.Config{})
			// A subscription of its, gone from the fake, took events.
			entry := createdEntry{APIBase: srv.URL(), Websocket: 1000, Subscriptions: []createdSub{{dialpad.SMS, 999}}}
			if tc.exists {
				ws, err := srv.AddWebsocketForAll("")
				if err != nil || ws != 1000 {
					t.Fatalf("fake websocket %d, %v", ws, err)
				}
			}
			path := filepath.Join(t.TempDir(), "events.created.json")
			if err := writeCreatedRecord(path, createdRecord{Made: []createdEntry{entry}}); err != nil {
				t.Fatal(err)
			}
			if tc.failWith != 0 {
				srv.FailNextREST(2, tc.failWith, 0)
			}
			var logged strings.Builder
			r := &createRecorder{client: testClient(t, srv), apiBase: srv.URL(), apiFlags: []string{"--api-base " + srv.URL()}, log: slog.New(slog.NewTextHandler(&logged, nil))}
			_, downSince, err := r.claim(context.Background(), path, time.Now(), func(func(created) error) (created, error) { return created{websocket: 2000}, nil })
			if err != nil || downSince.IsZero() {
				t.Fatalf("claim = %v, %v; want a leftover", downSince, err)
			}
			if tc.failWith != 0 {
				mustContain(t, logged.String(), "delete what is left with `dialpad-tunnel subscriptions delete --type sms 999 --api-base "+srv.URL()+"` and `dialpad-tunnel websockets delete 1000 --api-base "+srv.URL()+"`")
			} else if strings.Contains(logged.String(), "could not delete") {
				t.Errorf("warned of a failed delete:\n%s", logged.String())
			}
			if ws, _ := counts(t, srv); ws != 0 && tc.failWith == 0 {
				t.Errorf("%d websockets left on the fake", ws)
			}
			if err := r.release(); err != nil {
				t.Fatal(err)
			}
			rec, err := readCreatedRecord(path)
			if err != nil || len(rec.Made) != tc.kept {
				t.Errorf("record after release: %+v (%v); want %d entries", rec, err, tc.kept)
			}
		})
	}
}

// TestListenCreateSharedSpoolMakesNothing: a second `listen --create` run
// on a spool another one holds stops before it makes anything, so it
// neither leaves objects to delete nor touches the first run's record,
// which the first run's clean stop removes.
func TestListenCreateSharedSpoolMakesNothing(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	srv := newFake(t, dialpadtest.Config{})
	h := newHook(t, nil)
	args := createArgs(srv, h.URL, "--events", "sms")
	first := start(t, args...)
	first.waitConnected(t, srv, 1)
	before := len(srv.RESTCalls())
	second := start(t, args...)
	err := second.wait(t, 20*time.Second)
	if err == nil || !strings.Contains(err.Error(), "share one spool") {
		t.Fatalf("second run = %v, want the spool refused as in use", err)
	}
	if made := calls(srv, before, http.MethodPost, "/api/v2/websockets"); made != 0 {
		t.Errorf("the second run made %d websockets before finding the spool in use", made)
	}
	if err := first.stop(t); err != nil {
		t.Fatalf("first run: %v\n%s", err, first.stdout.String())
	}
	if ws, subs := counts(t, srv); ws != 0 || subs != 0 {
		t.Errorf("after the first run's clean stop the fake has %d websockets, %d subscriptions", ws, subs)
	}
	third := start(t, args...)
	third.stdout.waitFor(t, "INFO  connected", 10*time.Second) // logged after any restart gap
	if err := third.stop(t); err != nil {
		t.Fatal(err)
	}
	if out := third.stdout.String(); strings.Contains(out, "were missed") || strings.Contains(out, "did not delete") {
		t.Errorf("the run after a clean stop found a leftover:\n%s", out)
	}
}
