package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestServiceUnitExecStart: the ExecStart line of the example systemd unit
// runs as written, with only its host-specific values swapped for the
// fake Dialpad's, a test handler's and a temporary spool, and the API
// settings from the environment as its EnvironmentFile gives them; and
// its --spool lies in the unit's StateDirectory.
func TestServiceUnitExecStart(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join("examples", "dialpad-tunnel.service"))
	if err != nil {
		t.Fatal(err)
	}
	var argv []string
	var stateDir string
	for _, line := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			argv = strings.Fields(v)
		}
		if v, ok := strings.CutPrefix(line, "StateDirectory="); ok {
			stateDir = "/var/lib/" + v + "/"
		}
	}
	if len(argv) < 2 || filepath.Base(argv[0]) != "dialpad-tunnel" {
		t.Fatalf("ExecStart runs %v, want dialpad-tunnel and its arguments", argv)
	}
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, nil)
	spoolPath := filepath.Join(t.TempDir(), "events.spool")
	args := append([]string(nil), argv[1:]...)
	swap := map[string]string{"--websocket-id": strconv.FormatInt(wsID, 10), "--forward-to": h.URL, "--spool": spoolPath}
	for i := 0; i+1 < len(args); i++ {
		if v, ok := swap[args[i]]; ok {
			if args[i] == "--spool" && (stateDir == "" || !strings.HasPrefix(args[i+1], stateDir)) {
				t.Errorf("--spool %s is not in the unit's StateDirectory (%s)", args[i+1], stateDir)
			}
			args[i+1] = v
			delete(swap, args[i])
		}
	}
	if len(swap) > 0 {
		t.Fatalf("ExecStart lacks %v: %v", swap, argv)
	}
	t.Setenv("DIALPAD_API_KEY", srv.APIKey())
	t.Setenv("DIALPAD_API_BASE", srv.URL())

	r := start(t, args...)
	r.waitConnected(t, srv, 1)
	typ, ev := dialpadtest.NewGenerator(7).Next()
	if srv.Publish(typ, ev).Frames != 1 {
		t.Fatal("the fake wrote the event to no connection")
	}
	got := h.waitRequests(t, 1, 10*time.Second)
	if string(got[0].body) != string(ev) {
		t.Errorf("handler got %.80q, want the published event", got[0].body)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("listen from the unit's ExecStart: %v\n%s", err, r.stderr.String())
	}
	if fi, err := os.Stat(spoolPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("spool %s: %v, want a file of mode 0600", spoolPath, err)
	}
}
