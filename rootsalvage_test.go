//go:build unix

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// TestRootCommandsOnServiceSpool: an operator runs `sudo dialpad-tunnel
// events salvage`, `events replay` and `status` on the spool of a listen
// that runs as a service's user (a file of that user in its
// StateDirectory, mode 0700). The service's next listen, run as that user,
// opens the spool and delivers its events. Salvage left a file of root's
// in its place, which that listen refused as another user's.
func TestRootCommandsOnServiceSpool(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, to give the spool to another user")
	}
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, nil)
	shared := sharedDir(t, 0o755)
	other := newOtherUser(t, shared)
	dir := filepath.Join(shared, "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "events.spool")
	spoolBatch(t, path, func(d *spool.Disk) {
		appendEvent(t, d, "service-a")
		appendEvent(t, d, "service-b")
		finish(t, d, "dead") // service-a
	})
	spoolBatch(t, path, func(d *spool.Disk) { appendEvent(t, d, "service-c") })
	spoolBatch(t, path, func(d *spool.Disk) { appendEvent(t, d, "service-d") })
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[strings.Index(string(b), `"service-c"`)+3] ^= 0xff
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, path} {
		if err := os.Chown(p, nobodyUID, nobodyUID); err != nil {
			t.Fatal(err)
		}
	}

	mustContain(t, mustCLI(t, "events", "salvage", "--spool", path), "salvaged "+path)
	mustContain(t, mustCLI(t, "events", "replay", "--dead", "--spool", path), "put back 1 event as pending")
	mustContain(t, mustCLI(t, "events", "purge", "--delivered", "--spool", path), "purged 0 delivered events")
	if out, err := runCLI(t, "status", "--spool", path); err == nil || !strings.Contains(out, "it holds 3 pending") {
		t.Fatalf("status --spool %s = %v, %q; want no listen running, 3 pending", path, err, out)
	}
	for _, p := range []string{path, path + ".damaged"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != nobodyUID || st.Gid != nobodyUID {
			t.Errorf("%s: uid %d, gid %d after root's commands; want the service user's, %d", p, st.Uid, st.Gid, nobodyUID)
		}
	}

	// The service's listen, as its user.
	cmd := helperAsNobody(other.exe, "cli")
	argv, _ := json.Marshal(listenArgs(srv, wsID, h.URL, "--spool", path))
	cmd.Env = append(cmd.Env, "DPT_HELPER_ARGS="+string(argv))
	var out syncBuffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() { cmd.Process.Kill(); <-exited }()
	deadline := time.After(20 * time.Second)
	for {
		h.mu.Lock()
		n := len(h.requests)
		h.mu.Unlock()
		if n >= 3 {
			break
		}
		select {
		case <-h.arrived:
		case <-exited:
			t.Fatalf("the service's listen, as uid %d, stopped after %d deliveries: %s", nobodyUID, n, out.String())
		case <-deadline:
			t.Fatalf("the service's listen, as uid %d, made %d deliveries within 20s, want 3: %s", nobodyUID, n, out.String())
		}
	}
	h.mu.Lock()
	var delivered []string
	for _, req := range h.requests {
		delivered = append(delivered, req.header.Get("X-Dialpad-Tunnel-Delivery-Id"))
	}
	h.mu.Unlock()
	slices.Sort(delivered)
	if strings.Join(delivered, " ") != "service-a service-b service-d" {
		t.Errorf("the service's listen delivered %v, want service-a (replayed), -b and -d", delivered)
	}
}
