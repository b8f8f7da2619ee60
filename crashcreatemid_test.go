package main

import (
	"context"
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/setup"
)

// killed SIGKILLs p and fails the test unless that is how it ended.
func killed(t *testing.T, p *agentProcess) {
	t.Helper()
	var exit *exec.ExitError
	if err := p.signal(t, syscall.SIGKILL); !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("exit = %v, want killed by SIGKILL", err)
	}
}

// waitHeld returns once the held request has done its work on the fake.
func waitHeld(t *testing.T, p *agentProcess, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case err := <-p.exited:
		p.exited <- err
		t.Fatalf("exited (%v) before the held request", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the held request never reached the fake")
	}
}

// TestListenCreateKilledMidCreate: a `listen --create` run killed while
// Dialpad creates its websocket or subscription (done, the answer not
// sent) leaves objects no complete record names. The next run warns that
// an object may exist that no record names, with the commands that find
// and delete it, logs the gap (once a subscription may exist: a websocket
// alone takes no events), deletes what it can identify, and runs.
// The record used to be written only after every create answered: the
// next run said nothing, and left the websocket and its subscription
// taking events no one read.
func TestListenCreateKilledMidCreate(t *testing.T) {
	bin := buildAgent(t)
	for _, tc := range []struct {
		name, path string
		want       []string // in the next run's log
		wsLeft     int      // websockets on the fake while the next run runs: the orphan is named, not guessed at
		deletes    []string // the next run deletes these
		gap        bool     // the next run logs a gap: a subscription may have outlived the run
	}{
		{
			name: "websocket", path: "/api/v2/websockets",
			want: []string{
				"a websocket may exist on Dialpad that no record names",
				"find it with `dialpad-tunnel websockets list --api-base ",
				"delete it with `dialpad-tunnel websockets delete ID --api-base ",
			},
			wsLeft: 2,
		},
		{
			name: "subscription", path: "/api/v2/subscriptions/sms",
			want: []string{
				"a subscription of type sms may exist on Dialpad that no record names",
				"taking events to websocket 1000",
				"find it with `dialpad-tunnel subscriptions list --type sms --api-base ",
				"delete it with `dialpad-tunnel subscriptions delete --type sms ID --api-base ",
			},
			wsLeft:  1,
			deletes: []string{"/api/v2/websockets/1000"}, // and with it, on Dialpad, its subscriptions
			gap:     true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("XDG_STATE_HOME", t.TempDir())
			srv := newFake(t, dialpadtest.Config{})
			h := newHook(t, nil)
			args := createArgs(srv, h.URL, "--events", "sms", "--log-format", "json")
			done, release := srv.HoldNextAnswer(http.MethodPost, tc.path)
			defer release()
			first := startAgent(t, bin, args...)
			waitHeld(t, first, done)
			killed(t, first)

			before := len(srv.RESTCalls())
			second := startAgent(t, bin, args...)
			if tc.gap {
				waitRestartGap(t, second, "the run after one killed mid-create logged no gap")
			}
			second.waitConnected(t, srv)
			out := second.stdout.String()
			for _, want := range tc.want {
				mustContain(t, out, want)
			}
			for _, path := range tc.deletes {
				if calls(srv, before, http.MethodDelete, path) != 1 {
					t.Errorf("no DELETE %s; calls %+v", path, srv.RESTCalls()[before:])
				}
			}
			if ws, subs := counts(t, srv); ws != tc.wsLeft || subs != 1 {
				t.Errorf("the fake has %d websockets, %d subscriptions; want %d and the new run's 1", ws, subs, tc.wsLeft)
			}
			if err := second.signal(t, syscall.SIGTERM); err != nil {
				t.Fatalf("second run: %v", err)
			}
			if got := strings.Contains(second.stdout.String(), `"gaps":1,`); got != tc.gap {
				// A websocket alone, with no subscription, takes no events.
				t.Errorf("the stopped line counts a gap: %t; want %t\n%s", got, tc.gap, second.stdout.String())
			}
			third := startAgent(t, bin, args...)
			third.waitConnected(t, srv)
			if err := third.signal(t, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if out := third.stdout.String(); strings.Contains(out, "no record names") || strings.Contains(out, "did not delete") {
				t.Errorf("the run after a clean stop warned again:\n%s", out)
			}
		})
	}
}

// TestListenCreateNoSpoolCrash: `listen --create --no-spool` keeps its
// record in the state directory, so the next --create run on the same
// API, with or without --no-spool, deletes what a killed one left and
// logs the gap; a live --no-spool run's objects are left alone. It used
// to keep no record: the leftovers stayed, taking events, and no gap was
// logged.
func TestListenCreateNoSpoolCrash(t *testing.T) {
	bin := buildAgent(t)
	for _, next := range [][]string{nil, {"--no-spool"}} {
		t.Run("next"+strings.Join(next, ""), func(t *testing.T) {
			t.Setenv("XDG_STATE_HOME", t.TempDir())
			srv := newFake(t, dialpadtest.Config{})
			h := newHook(t, nil)
			first := startAgent(t, bin, createArgs(srv, h.URL, "--events", "sms", "--log-format", "json", "--no-spool")...)
			first.waitConnected(t, srv)

			// A run beside it leaves its objects alone.
			before := len(srv.RESTCalls())
			beside := startAgent(t, bin, createArgs(srv, h.URL, append([]string{"--events", "sms", "--log-format", "json"}, next...)...)...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.WaitConnections(ctx, 2); err != nil {
				t.Fatal(err)
			}
			if err := beside.signal(t, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{"/api/v2/websockets/1000", "/api/v2/subscriptions/sms/1001"} {
				if calls(srv, before, http.MethodDelete, path) != 0 {
					t.Errorf("a run beside a live --no-spool one deleted its %s", path)
				}
			}
			if strings.Contains(beside.stdout.String(), "did not delete") {
				t.Errorf("a live --no-spool run taken for a crashed one:\n%s", beside.stdout.String())
			}

			killed(t, first)
			killedAt := time.Now()
			before = len(srv.RESTCalls())
			second := startAgent(t, bin, createArgs(srv, h.URL, append([]string{"--events", "sms", "--log-format", "json"}, next...)...)...)
			gap := waitRestartGap(t, second, "the --create run after a crashed --no-spool one logged no gap")
			if gap.After(killedAt) || gap.Before(killedAt.Add(-2*time.Minute)) {
				t.Errorf("gap from %s; want at the killed run's last sign of life, before %s", gap, killedAt)
			}
			second.waitConnected(t, srv)
			for _, path := range []string{"/api/v2/websockets/1000", "/api/v2/subscriptions/sms/1001"} {
				if calls(srv, before, http.MethodDelete, path) != 1 {
					t.Errorf("no DELETE %s: the killed --no-spool run's leftovers were not deleted; calls %+v", path, srv.RESTCalls()[before:])
				}
			}
			if ws, subs := counts(t, srv); ws != 1 || subs != 1 {
				t.Errorf("the fake has %d websockets, %d subscriptions; want only the new run's", ws, subs)
			}
			if err := second.signal(t, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			third := startAgent(t, bin, createArgs(srv, h.URL, "--events", "sms", "--log-format", "json", "--no-spool")...)
			third.waitConnected(t, srv)
			if err := third.signal(t, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if out := third.stdout.String(); strings.Contains(out, "did not delete") || strings.Contains(out, "no agent was running") {
				t.Errorf("the run after clean stops found a leftover:\n%s", out)
			}
		})
	}
}

// TestCreateForRunNotes: createForRun notes each create before it asks
// and once the answer came; a refused create (4xx) is noted as making
// nothing, a create with no answer (a 5xx: it may have made it) stays
// noted as asked.
func TestCreateForRunNotes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int // the subscription create's failure
		creating []string
	}{
		{"refused", http.StatusForbidden, []string{"websocket", "", "sms", ""}},
		{"unanswered", http.StatusBadGateway, []string{"websocket", "", "sms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t, dialpadtest.Config{})
			var creating []string
			note := func(cr created) error {
				creating = append(creating, cr.creating)
				if cr.creating == "sms" {
					srv.FailNextREST(1, tc.status, 0) // the create asked next
				}
				return nil
			}
			specs := []setup.SubscriptionSpec{{Type: dialpad.SMS}}
			cr, err := createForRun(context.Background(), testClient(t, srv), "", specs, note)
			if err == nil || cr.websocket == 0 || len(cr.subscriptions) != 0 {
				t.Fatalf("createForRun = %+v, %v; want the websocket and an error", cr, err)
			}
			if strings.Join(creating, ",") != strings.Join(tc.creating, ",") || cr.creating != tc.creating[len(tc.creating)-1] {
				t.Errorf("noted creating %q, returned %q; want %q", creating, cr.creating, tc.creating)
			}
		})
	}
}
