package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
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
		Running     bool  `json:"running"`
		Connections int   `json:"connections"`
		DeadLetters int64 `json:"dead_letters"`
	}
	if err != nil || json.Unmarshal([]byte(jsonOut), &got) != nil || !got.Running || got.Connections != 1 || got.DeadLetters != 1 {
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
