//go:build unix

package spool

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/osuser"
)

// TestRootMakesNoSpoolInServiceFolder: root (sudo, to try something) opens
// a spool that is not there yet in the folder of a service's user (its
// StateDirectory, mode 0700). The file, and the folder made on its way,
// were root's: that user's listen refused the spool as another user's
// (checkOwner), and could not enter the folder. Nothing is made now, and
// the error says to run listen as that user. In a folder of root's, or
// one every user may write to, root's spool is made as before, and an
// existing spool of root's in the service's folder still opens.
func TestRootMakesNoSpoolInServiceFolder(t *testing.T) {
	needRoot(t)
	cases := []struct {
		name    string
		mode    os.FileMode // of the folder
		owner   int
		path    string // under the folder
		link    bool   // reached through a link of root's, in a folder of root's
		existed bool   // a spool of root's is there already
		refused bool
	}{
		{name: "new file", mode: 0o700, owner: otherUID, path: "events.spool", refused: true},
		{name: "new folder", mode: 0o750, owner: otherUID, path: "sub/events.spool", refused: true},
		{name: "through a link", mode: 0o700, owner: otherUID, path: "events.spool", link: true, refused: true},
		{name: "root's existing file", mode: 0o700, owner: otherUID, path: "events.spool", existed: true},
		{name: "shared folder", mode: 0o1777, owner: otherUID, path: "events.spool"},
		{name: "root's folder", mode: 0o755, owner: 0, path: "events.spool"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, tc.path)
			if tc.existed {
				_, stop := openRunning(t, DiskConfig{Path: path})
				stop()
			}
			if err := os.Chmod(dir, tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(dir, tc.owner, tc.owner); err != nil {
				t.Fatal(err)
			}
			given := path
			if tc.link {
				given = filepath.Join(t.TempDir(), "link.spool")
				if err := os.Symlink(path, given); err != nil {
					t.Fatal(err)
				}
			}
			d, err := OpenDisk(DiskConfig{Path: given})
			if !tc.refused {
				if err != nil {
					t.Fatalf("OpenDisk: %v", err)
				}
				d.Close()
				return
			}
			if err == nil {
				d.Close()
				fi, _ := os.Stat(path)
				st := fi.Sys().(*syscall.Stat_t)
				t.Fatalf("OpenDisk made %s (uid %d) in a folder of uid %d, mode %04o: that user's listen refuses it", path, st.Uid, tc.owner, tc.mode)
			}
			where := "its folder " + dir
			if filepath.Dir(path) != dir {
				where = "the nearest folder above it, " + dir + ","
			}
			for _, part := range []string{
				path + ": is not there, and " + where + " is " + osuser.Possessive(otherUID) + ", mode " + fmt.Sprintf("%04o", tc.mode.Perm()),
				"that user's listen would refuse it, so nothing is made",
				"run listen as that user (sudo -u " + osuser.Sudo(otherUID) + " dialpad-tunnel listen …), or use a --spool in a folder of root's",
			} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error = %v\nwant it to say %q", err, part)
				}
			}
			if names, _ := os.ReadDir(dir); len(names) != 0 {
				t.Errorf("%s holds %v after the refusal; want nothing made", dir, names)
			}
		})
	}
}

// TestCompactionKeepsOwner: an admin hands the spool of a listen of
// root's to a service's user (chown -R of its folder) while that listen
// still runs. Its next compaction renamed a copy of root's over the file,
// which the service's listen then refused as root's. The copy takes the
// file's owner and group, as a salvage's does.
func TestCompactionKeepsOwner(t *testing.T) {
	needRoot(t)
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path, CompactAfter: 1, KeepCount: -1})
	defer stop()
	was, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, otherUID, otherUID); err != nil {
		t.Fatal(err)
	}
	for i := range 20 { // garbage enough for compactions
		appendSync(t, d, Event{ID: fmt.Sprint(i), Key: fmt.Sprint("k", i), Body: []byte("{}")})
		d.Ack(nextNow(t, d), nil)
	}
	var fi os.FileInfo
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) { // polls a condition with a deadline
		if fi, err = os.Stat(path); err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(was, fi) {
			break // compacted
		}
		if time.Now().After(deadline) {
			t.Fatal("no compaction replaced the file within 10s")
		}
	}
	stop()
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != otherUID || st.Gid != otherUID || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s after a compaction: uid %d, gid %d, mode %04o; want uid and gid %d (the file's), mode 0600", path, st.Uid, st.Gid, fi.Mode().Perm(), otherUID)
	}
}
