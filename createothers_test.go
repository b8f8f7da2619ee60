package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// waitLogged returns once p's stdout holds want, and fails the test if it
// does not within 20 s.
func waitLogged(t *testing.T, p *agentProcess, want string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(p.stdout.String(), want); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not logged within 20 s: %s\n%s", want, p.stdout.String())
		}
	}
}

// waitConnections returns once the fake holds n connections.
func waitConnections(t *testing.T, srv *dialpadtest.Server, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.WaitConnections(ctx, n); err != nil {
		t.Fatalf("%d connections: %v", n, err)
	}
}

// TestCreateDeletesOtherSpoolsLeftovers: a crashed `listen --create
// --events call` run leaves its websocket and subscription on Dialpad,
// taking call events no one reads. A `listen --create --events sms` run
// (another default spool) used to leave them there and say nothing; it
// deletes them, clears their record, and warns of the call events
// missed, which are no gap of its own.
func TestCreateDeletesOtherSpoolsLeftovers(t *testing.T) {
	w := newCreateWorld(t)
	srv := w.srv
	w.crashed(t, "call")
	if ws, subs := counts(t, srv); ws != 1 || subs != 1 {
		t.Fatalf("after the crash the fake has %d websockets, %d subscriptions; want the call run's 1 and 1", ws, subs)
	}
	records, _ := filepath.Glob(filepath.Join(os.Getenv("XDG_STATE_HOME"), "dialpad-tunnel", "spool", "*create-call.created.json"))
	if len(records) != 1 {
		t.Fatalf("records of the call run: %v; want one", records)
	}
	before := len(srv.RESTCalls())

	sms := w.start(t, "sms")
	waitLogged(t, sms, "an earlier `listen --create --events call` run crashed")
	waitConnections(t, srv, 1)
	for _, c := range []struct{ method, path string }{
		{http.MethodDelete, "/api/v2/subscriptions/call/1001"},
		{http.MethodDelete, "/api/v2/websockets/1000"},
	} {
		if n := calls(srv, before, c.method, c.path); n != 1 {
			t.Errorf("%d × %s %s: the crashed call run's leftovers were not deleted; calls %+v", n, c.method, c.path, srv.RESTCalls()[before:])
		}
	}
	if ws, subs := counts(t, srv); ws != 1 || subs != 1 {
		t.Errorf("the fake has %d websockets, %d subscriptions; want only the sms run's 1 and 1", ws, subs)
	}
	if _, err := os.Stat(records[0]); !os.IsNotExist(err) {
		t.Errorf("the call spool's record is still there (%v): its next run would delete again and warn of a crash", err)
	}
	if err := sms.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("sms run: %v", err)
	}
	out := sms.stdout.String()
	mustContain(t, out, "call events Dialpad sent between ")
	if _, ok := restartGap(out); ok || strings.Contains(out, `"gaps":`) {
		t.Errorf("the call run's missed events were counted as a gap of the sms run:\n%s", out)
	}
}

// TestCreateLeavesLiveOtherSpool: a `listen --create --events sms` run
// leaves alone what a live `--events call` run made, and its record.
func TestCreateLeavesLiveOtherSpool(t *testing.T) {
	w := newCreateWorld(t)
	srv := w.srv
	callRun := w.start(t, "call")
	callRun.waitConnected(t, srv)
	before := len(srv.RESTCalls())

	sms := w.start(t, "sms")
	waitLogged(t, sms, `"msg":"starting"`) // after it dealt with what earlier runs left
	for _, c := range srv.RESTCalls()[before:] {
		if c.Method == http.MethodDelete {
			t.Errorf("deleted what a live run made: %+v", c)
		}
	}
	waitConnections(t, srv, 2)
	if strings.Contains(sms.stdout.String(), "an earlier") {
		t.Errorf("warned of a live run as crashed:\n%s", sms.stdout.String())
	}
	if ws, subs := counts(t, srv); ws != 2 || subs != 2 {
		t.Errorf("the fake has %d websockets, %d subscriptions; want both runs' 2 and 2", ws, subs)
	}
	// Both stop cleanly: each deletes its own.
	for _, p := range []*agentProcess{sms, callRun} {
		if err := p.signal(t, syscall.SIGTERM); err != nil {
			t.Fatalf("stop: %v", err)
		}
	}
	if ws, subs := counts(t, srv); ws != 0 || subs != 0 {
		t.Errorf("after both stopped the fake has %d websockets, %d subscriptions; want none", ws, subs)
	}
}

// createWorld is what the tests of several `listen --create` runs on one
// API share: a state folder of the test's own, the binary, the fake
// Dialpad and a handler.
type createWorld struct {
	bin string
	srv *dialpadtest.Server
	h   *hook
}

func newCreateWorld(t *testing.T) createWorld {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	return createWorld{bin: buildAgent(t), srv: newFake(t, dialpadtest.Config{}), h: newHook(t, nil)}
}

// crashed runs `listen --create --events events` until it is connected,
// then kills it (SIGKILL) and waits until the fake has no connection.
func (w createWorld) crashed(t *testing.T, events string) {
	p := w.start(t, events)
	p.waitConnected(t, w.srv)
	killed(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.srv.WaitConnectionsAtMost(ctx, 0); err != nil { // WaitConnections(0) returned at once
		t.Fatalf("the killed run's connection is still open at the fake: %v", err)
	}
}

// start runs `listen --create --events events` with JSON logs.
func (w createWorld) start(t *testing.T, events string) *agentProcess {
	return startAgent(t, w.bin, createArgs(w.srv, w.h.URL, "--events", events, "--log-format", "json")...)
}
