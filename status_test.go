package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/urfave/cli/v2"
)

// exitCode is the status a command's error exits with (0 for none).
func exitCode(err error) int {
	var ec cli.ExitCoder
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ec):
		return ec.ExitCode()
	}
	return 1
}

// TestStatus: `status` asks the listen running on a spool for its state
// and counts: exit 0 while it is connected, 1 once no connection is open,
// and 1 with what the file holds once none runs, in text or JSON.
func TestStatus(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, func(n int) int {
		if n == 2 {
			return http.StatusBadRequest // a dead letter
		}
		return http.StatusOK
	})
	path := filepath.Join(t.TempDir(), "s.spool")
	r := start(t, listenArgs(srv, wsID, h.URL, "--spool", path, "--reconnect-wait-min", "10ms", "--reconnect-wait-max", "50ms")...)
	r.waitConnected(t, srv, 1)
	gen := dialpadtest.NewGenerator(4)
	srv.Publish("sms", gen.SMS())
	srv.Publish("sms", gen.SMS())
	h.waitRequests(t, 2, 10*time.Second)

	// The counts follow the deliveries' ends and the spool's commits.
	var out string
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		out, err = runCmd(t, "status", "--spool", path)
		if err == nil && strings.Contains(out, "received 2  delivered 1  failed 1  pending 0  dead letters 1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status: %v\n%s\nwant it connected, with 2 received, 1 delivered, 1 dead letter", err, out)
		}
		<-time.After(20 * time.Millisecond) // polls a condition with a deadline
	}
	mustContain(t, out, "listen websocket "+srvID(wsID)+" (pid ")
	mustContain(t, out, ": connected, 1 connection(s)")

	jsonOut, err := runCmd(t, "status", "--spool", path, "--json")
	var got struct {
		Running     bool   `json:"running"`
		Connected   bool   `json:"connected"` // as the text's first line: it had only connections and sources_unconnected
		Spool       string `json:"spool"`
		Connections int    `json:"connections"`
		DeadLetters int64  `json:"dead_letters"`
	}
	if err != nil || json.Unmarshal([]byte(jsonOut), &got) != nil || !got.Running || !got.Connected || got.Spool != path || got.Connections != 1 || got.DeadLetters != 1 {
		t.Errorf("status --json: %v\n%s", err, jsonOut)
	}

	// No connection: status still answers, and exits 1.
	srv.FailNextREST(1000, http.StatusInternalServerError, 0)
	srv.DropConnections(1001, "going away")
	deadline = time.Now().Add(10 * time.Second)
	for {
		out, err = runCmd(t, "status", "--spool", path)
		if exitCode(err) == 1 && strings.Contains(out, "NOT CONNECTED, 0 connection(s)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status with no connection: %v\n%s", err, out)
		}
		<-time.After(20 * time.Millisecond) // polls a condition with a deadline
	}
	jsonOut, err = runCmd(t, "status", "--spool", path, "--json")
	got.Connected = true
	if exitCode(err) != 1 || json.Unmarshal([]byte(jsonOut), &got) != nil || !got.Running || got.Connected {
		t.Errorf("status --json with no connection: %v\n%s\nwant running, not connected, exit 1", err, jsonOut)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}

	out, err = runCmd(t, "status", "--spool", path)
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "no listen runs on "+path) ||
		!strings.Contains(out, "it holds 0 pending, 1 dead letters, 1 delivered kept") {
		t.Errorf("status with no listen: %v\n%s", err, out)
	}
}

func srvID(id int64) string { return strconv.FormatInt(id, 10) }

// TestStatusWhileStopping: asked while listen drains a delivery in flight
// after a stop signal, status says it is stopping and exits 1. It said
// "NOT CONNECTED" and that the events Dialpad sends now are lost.
// /healthz says the same, with a 503 (it said "not connected").
func TestStatusWhileStopping(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	release, answering := make(chan struct{}), make(chan struct{}, 1)
	h := newHook(t, func(int) int {
		answering <- struct{}{} // the hook signals a request once answered: this one waits
		<-release
		return http.StatusOK
	})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // before the hook's Close, which waits for its handlers
	path := filepath.Join(t.TempDir(), "s.spool")
	r := start(t, listenArgs(srv, wsID, h.URL, "--spool", path, "--drain-timeout", "1m", "--metrics-addr", "127.0.0.1:0")...)
	r.waitConnected(t, srv, 1)
	health := strings.TrimSuffix(metricsURL(t, r), "/metrics") + "/healthz"
	srv.Publish("sms", dialpadtest.NewGenerator(5).SMS())
	select {
	case <-answering:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler got no request")
	}
	r.cancel() // as Ctrl-C: the delivery in flight may finish

	var out string
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err = runCmd(t, "status", "--spool", path)
		if exitCode(err) == 1 && strings.Contains(out, ": STOPPING") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status while listen stops: %v\n%s\nwant STOPPING, exit 1", err, out)
		}
		<-time.After(20 * time.Millisecond) // polls a condition with a deadline
	}
	if code, body := get(t, health); code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "stopping: ") {
		t.Errorf("healthz while listen stops: %d %q, want 503 stopping", code, body)
	}
	free()
	if strings.Contains(out, "NOT CONNECTED") || !strings.Contains(err.Error(), "listen is stopping") {
		t.Errorf("status while listen stops: %v\n%s\nwant it said stopping, not NOT CONNECTED", err, out)
	}
	if err := r.wait(t, 20*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestStatusCoversEveryRoute: with --route handlers, every figure of a
// running listen's status is of the whole listen, asked on any route's
// spool, and says so. `status --route sms` counted the pending events of
// every route but only the dead letters of the sms route's file, and
// `status` those of the default route's file (none here).
func TestStatusCoversEveryRoute(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	def := newHook(t, nil)
	texts := newHook(t, func(int) int { return http.StatusBadRequest })
	path := filepath.Join(t.TempDir(), "s.spool")
	r := start(t, listenArgs(srv, wsID, def.URL, "--spool", path, "--route", "sms="+texts.URL)...)
	r.waitConnected(t, srv, 1)
	gen := dialpadtest.NewGenerator(6)
	srv.Publish("sms", gen.SMS())         // a dead letter in the sms route's file
	srv.Publish("contact", gen.Contact()) // delivered by the default route
	r.stdout.waitFor(t, "FAILED sms", 10*time.Second)
	def.waitRequests(t, 1, 10*time.Second)

	const want = "received 2  delivered 1  failed 1  pending 0  dead letters 1"
	for _, route := range [][]string{nil, {"--route", "sms"}, {"--route", "default"}} {
		args := append([]string{"status", "--spool", path}, route...)
		var out string
		deadline := time.Now().Add(10 * time.Second)
		for {
			var err error
			out, err = runCmd(t, args...)
			if err == nil && strings.Contains(out, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v\n%s\nwant %q: the figures of both routes", strings.Join(args, " "), err, out, want)
			}
			<-time.After(20 * time.Millisecond) // polls a condition with a deadline
		}
		mustContain(t, out, "figures of the whole listen, every route's spool together (routes default, sms)")

		jsonOut, err := runCmd(t, append(args, "--json")...)
		var got struct {
			Scope       string   `json:"scope"`
			Routes      []string `json:"routes"`
			Pending     int      `json:"pending"`
			DeadLetters int64    `json:"dead_letters"`
			Failed      int64    `json:"failed"`
		}
		if err != nil || json.Unmarshal([]byte(jsonOut), &got) != nil || got.Scope != "listen" ||
			strings.Join(got.Routes, ",") != "default,sms" || got.DeadLetters != 1 || got.Failed != 1 {
			t.Errorf("%s --json: %v\n%s\nwant scope listen, routes default and sms, 1 failed, 1 dead letter", strings.Join(args, " "), err, jsonOut)
		}
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}

	// With no listen, status has only the file to read: its JSON says so.
	jsonOut, _ := runCmd(t, "status", "--spool", path, "--route", "sms", "--json")
	var got struct {
		Scope       string `json:"scope"`
		DeadLetters int    `json:"dead_letters"`
	}
	if json.Unmarshal([]byte(jsonOut), &got) != nil || got.Scope != "spool" || got.DeadLetters != 1 {
		t.Errorf("status --route sms --json with no listen:\n%s\nwant scope spool, the sms file's 1 dead letter", jsonOut)
	}
}
