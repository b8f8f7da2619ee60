//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/osuser"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// TestRootMadeSpoolInOwnFolder: a spool file of root's in a folder of the
// service's user (an earlier version's `sudo dialpad-tunnel listen`, or
// one run before the folder was given to the user) is refused to that
// user's commands with the way out that works: give it back with chown.
// They said to run the command as root (sudo -u root …), which leaves the
// service refused.
func TestRootMadeSpoolInOwnFolder(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, to make a file of root's in another user's folder")
	}
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, nil)
	shared := sharedDir(t, 0o755)
	other := newOtherUser(t, shared)
	for _, mode := range []os.FileMode{0o600, 0o666} {
		t.Run(mode.String(), func(t *testing.T) {
			dir, err := os.MkdirTemp(shared, "state")
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "events.spool")
			spoolBatch(t, path, func(d *spool.Disk) { appendEvent(t, d, "11111111-aaaa-bbbb-cccc-000000000001") })
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(dir, nobodyUID, nobodyUID); err != nil {
				t.Fatal(err)
			}
			give := "give it back (sudo chown " + osuser.Sudo(nobodyUID) + ": " + path + ")"
			cmds := [][]string{listenArgs(srv, wsID, h.URL, "--spool", path)}
			if mode == 0o600 { // readable, it is listed: only listen refuses another user's file
				cmds = append(cmds, []string{"events", "list", "--spool", path})
			}
			for _, args := range cmds {
				got := other.run(t, "", args...)
				if got.Code == 0 || !strings.Contains(got.Err, "root made it in this user's folder") || !strings.Contains(got.Err, give) || strings.Contains(got.Err, "sudo -u root") {
					t.Errorf("%s as uid %d: exit %d, %q; want the chown advice, not to run it as root", args[0], nobodyUID, got.Code, got.Err)
				}
			}
		})
	}
}
