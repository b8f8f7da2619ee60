package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestReplayOfNothingNotLogged: an `events replay` or `events purge` that
// finds nothing changes nothing, and a running listen logs no line of it
// (it logged "events replay: … replayed=0", which in a server's journal
// read as a change to the spool); one that moves events is still logged.
func TestReplayOfNothingNotLogged(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, nil)
	path := filepath.Join(t.TempDir(), "events.spool")
	r := start(t, listenArgs(srv, wsID, h.URL, "--spool", path)...)
	r.waitConnected(t, srv, 1)
	mustContain(t, mustCLI(t, "events", "replay", "--dead", "--since", "1h", "--spool", path), "nothing to replay")
	mustCLI(t, "events", "purge", "--dead", "--spool", path)
	typ, ev := dialpadtest.NewGenerator(41).Next()
	srv.Publish(typ, ev)
	h.waitRequests(t, 1, 10*time.Second)
	waitUntilListed(t, path, "--delivered", 1, 10*time.Second)
	mustCLI(t, "events", "purge", "--delivered", "--spool", path)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	out := r.stdout.String()
	if strings.Contains(out, "events replay:") || strings.Contains(out, "dead=0") {
		t.Errorf("listen logged a replay or purge that changed nothing:\n%s", out)
	}
	mustContain(t, out, "events purge: events deleted for good at an events command's request  spool="+path+"  delivered=1")
}
