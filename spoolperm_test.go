//go:build unix

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// TestEventsSpoolOfOtherUser: an operator runs the events commands,
// status and listen on the spool of a listen that runs as a service's
// user: a file of mode 0600 in a folder they may enter, or in its
// StateDirectory of mode 0700. Each says which file or folder denies it,
// whose it is and its mode, and to run the same command as that user
// (sudo -u root dialpad-tunnel events list --spool FILE --dead); listen
// says so too, or to use a --spool of this user's. They said only
// "spool: open FILE: permission denied" (status: "no listen runs on FILE
// (and the file cannot be read: open FILE: permission denied)"). Nothing
// is changed. As root, the commands run as nobody; otherwise as this user
// with the file's or folder's mode at 0 meanwhile.
func TestEventsSpoolOfOtherUser(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, nil)
	shared := sharedDir(t, 0o755)
	other := newOtherUser(t, shared)
	for _, tc := range []struct {
		name   string
		folder os.FileMode
	}{{"open-folder", 0o755}, {"state-directory", 0o700}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(shared, tc.name)
			if err := os.Mkdir(dir, tc.folder); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "events.spool")
			var id string
			for _, p := range []string{path, routeSpoolPath(path, "call")} {
				spoolBatch(t, p, func(d *spool.Disk) {
					appendEvent(t, d, "11111111-aaaa-bbbb-cccc-000000000001")
					appendEvent(t, d, "11111111-aaaa-bbbb-cccc-000000000002")
					id = finish(t, d, "dead")
				})
			}
			if err := os.Chmod(dir, tc.folder); err != nil { // past the umask
				t.Fatal(err)
			}
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			denied, why := path, "the file is root's (uid 0), mode 0600"
			if tc.folder == 0o700 {
				denied, why = dir, "its folder "+dir+" is root's (uid 0), mode 0700, and this user may not look in it"
			}
			for _, cmd := range [][]string{
				{"events", "list", "--dead"},
				{"events", "show", id},
				{"events", "replay", "--dead"},
				{"events", "purge", "--dead"},
				{"status"},
			} {
				args := append(append([]string{}, cmd[:len(cmd)-1]...), "--spool", path, cmd[len(cmd)-1])
				if len(cmd) == 1 {
					args = []string{"status", "--spool", path}
				}
				got := other.run(t, denied, args...)
				line := strings.Join(args, " ")
				if cmd[0] == "status" && tc.folder == 0o700 {
					// The control socket's folder: TestStatusOtherUsersListen.
					if got.Code != 1 || !strings.Contains(got.Err, "cannot tell whether a listen runs on "+path) {
						t.Errorf("%s as another user: exit %d, %q", line, got.Code, got.Err)
					}
					continue
				}
				want := []string{path + ": permission denied to this user"}
				if other.exe != "" {
					want = append(want, why, "run the command as that user (sudo -u root dialpad-tunnel "+strings.Join(cmd[:min(2, len(cmd))], " ")+" --spool "+path)
				}
				for _, w := range want {
					if !strings.Contains(got.Err, w) {
						t.Errorf("%s as another user: %q (exit %d)\nwant it to say %q", line, got.Err, got.Code, w)
					}
				}
				for _, never := range []string{"open " + path, "no such", "no dead events", "panic"} {
					if strings.Contains(got.Err+got.Stdout, never) {
						t.Errorf("%s as another user: %q, stdout %q: want no %q", line, got.Err, got.Stdout, never)
					}
				}
				if got.Code != 1 {
					t.Errorf("%s as another user: exit %d; want 1", line, got.Code)
				}
			}
			got := other.run(t, denied, listenArgs(srv, wsID, h.URL, "--spool", path)...)
			want := []string{path + ": permission denied to this user", "or use a --spool in a folder of this user's"}
			if other.exe != "" {
				want = append(want, why, "run the command as that user (sudo -u root dialpad-tunnel listen …)")
			}
			for _, w := range want {
				if !strings.Contains(got.Err, w) {
					t.Errorf("listen as another user: %q (exit %d)\nwant it to say %q", got.Err, got.Code, w)
				}
			}
			if got.Code == 0 {
				t.Errorf("listen as another user: exit 0; want it refused")
			}
			if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, before) {
				t.Errorf("the spool file changed (%v)", err)
			}
		})
	}
}
