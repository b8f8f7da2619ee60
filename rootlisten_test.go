//go:build unix

package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/osuser"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// TestRootListenInServiceFolder: an admin runs `sudo dialpad-tunnel listen
// --spool` on a spool that is not there yet in the folder of a service's
// user (its StateDirectory, mode 0700), with a --route too, or in a
// folder under it that is not there either, or with a new --route beside
// the service's existing route spool. It ran, and left the spool, its
// route's, their handler records and the folder made on the way root's
// (or made the new route's before it refused the service's file): the
// service's listen, as its user, then refused the spool as root's. Now it
// stops before anything is made, saying to run listen as that user, and
// the service's listen starts on that path.
func TestRootListenInServiceFolder(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, to give the folder to another user")
	}
	shared := sharedDir(t, 0o755)
	other := newOtherUser(t, shared)
	cases := []struct {
		name   string
		routes []string // --route flags, besides --forward-to
		has    string   // the service's route spool there already
	}{
		{name: "events.spool", routes: []string{"sms=/sms"}},
		{name: "sub/events.spool", routes: []string{"sms=/sms"}},
		{name: "events.spool", routes: []string{"sms=/sms", "call=/call"}, has: "call"},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, "/", "_")+"_"+tc.has, func(t *testing.T) {
			h := newHook(t, nil)
			dir, err := os.MkdirTemp(shared, "state")
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, tc.name)
			var flags []string
			if tc.has == "" {
				flags = append(flags, "--forward-to", h.URL)
			} else {
				flags = append(flags, "--events", "sms,call")
			}
			for _, r := range tc.routes {
				typ, p, _ := strings.Cut(r, "=")
				flags = append(flags, "--route", typ+"="+h.URL+p)
			}
			if tc.has != "" {
				had := routeSpoolPath(path, tc.has)
				spoolBatch(t, had, func(d *spool.Disk) { appendEvent(t, d, "service-a") })
				if err := os.Chown(had, nobodyUID, nobodyUID); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chown(dir, nobodyUID, nobodyUID); err != nil { // after the service's file is made
				t.Fatal(err)
			}
			before, _ := os.ReadDir(dir)

			srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
			args := listenArgs(srv, wsID, "", append([]string{"--spool", path}, flags...)...)
			r := start(t, args...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			connected := make(chan error, 1)
			go func() { connected <- srv.WaitConnections(ctx, 1) }()
			select {
			case err := <-r.done:
				close(r.done) // as run.wait: its stop returns at once
				cancel()
				<-connected
				for _, part := range []string{
					"is not there, and ",
					" is " + osuser.Possessive(nobodyUID) + ", mode 0700",
					"run listen as that user (sudo -u " + osuser.Sudo(nobodyUID) + " dialpad-tunnel listen …)",
				} {
					if err == nil || !strings.Contains(err.Error(), part) {
						t.Errorf("root's listen: %v; want it to say %q", err, part)
					}
				}
				if names, _ := os.ReadDir(dir); len(names) != len(before) {
					t.Errorf("%s holds %v after root's listen; want nothing made (%v)", dir, names, before)
				}
			case err := <-connected:
				cancel()
				r.stop(t)
				t.Errorf("root's listen ran on %s, in a folder of uid %d (%v)", path, nobodyUID, err)
			}

			// The service's listen, as its user.
			srv, wsID = fakeDialpad(t, dialpadtest.Config{}, "")
			cmd := helperAsNobody(other.exe, "cli")
			argv, _ := json.Marshal(listenArgs(srv, wsID, "", append([]string{"--spool", path}, flags...)...))
			cmd.Env = append(cmd.Env, "DPT_HELPER_ARGS="+string(argv))
			var out syncBuffer
			cmd.Stdout = &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { cmd.Wait(); close(exited) }()
			defer func() { cmd.Process.Kill(); <-exited }()
			ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			connected = make(chan error, 1)
			go func() { connected <- srv.WaitConnections(ctx, 1) }()
			select {
			case <-exited:
				t.Fatalf("the service's listen, as uid %d, stopped: %s", nobodyUID, out.String())
			case err := <-connected:
				if err != nil {
					t.Fatalf("the service's listen, as uid %d, did not connect: %v", nobodyUID, err)
				}
			}
		})
	}
}
