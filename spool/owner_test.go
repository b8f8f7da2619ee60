//go:build unix

package spool

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/osuser"
)

// otherUID is a user the tests hand files to (nobody).
const otherUID = 65534

// needRoot skips a test that must give a file to another user.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root, to give a file to another user")
	}
}

// TestDiskRefusesFileOfAnotherUser: another user who put an empty file at
// the spool's path (in a folder all may write to) would own every event
// written to it; the spool is refused and nothing is written to the file.
func TestDiskRefusesFileOfAnotherUser(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o1777)
	path := filepath.Join(dir, "events.spool")
	if err := os.WriteFile(path, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil { // past the umask
		t.Fatal(err)
	}
	if err := os.Chown(path, otherUID, otherUID); err != nil {
		t.Fatal(err)
	}
	d, err := OpenDisk(DiskConfig{Path: path})
	if err == nil {
		d.Close()
		t.Fatal("OpenDisk took a spool file of another user")
	}
	if want := "is owned by " + osuser.Label(otherUID) + ", not this user (uid 0), mode 0666: its owner could read every event written to it, so none is; if it is the spool of that user's listen, run listen as that user (sudo -u " + osuser.Sudo(otherUID) + " dialpad-tunnel listen …)"; !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v; want it to say who owns the file", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 || fi.Mode().Perm() != 0o666 {
		t.Errorf("file after the refusal: %v, %v; want it empty and mode 0666, as it was", fi, err)
	}
}

// TestDiskRefusesLinkOfAnotherUser: a symbolic link another user put at
// the spool's path is not followed, so no spool is made where it leads.
func TestDiskRefusesLinkOfAnotherUser(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o1777)
	private := t.TempDir()
	target := filepath.Join(private, "chosen")
	path := filepath.Join(dir, "events.spool")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(path, otherUID, otherUID); err != nil {
		t.Fatal(err)
	}
	d, err := OpenDisk(DiskConfig{Path: path})
	if err == nil {
		d.Close()
		t.Fatal("OpenDisk followed a link of another user")
	}
	if !strings.Contains(err.Error(), "is a symbolic link of uid 65534") {
		t.Errorf("error = %v; want it to name the link's owner", err)
	}
	if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s was made through the link (%v)", target, err)
	}
	if _, err := Salvage(path); err == nil || !strings.Contains(err.Error(), "is a symbolic link of uid 65534") {
		t.Errorf("Salvage: %v; want the link refused", err)
	}
}

// TestDiskFollowsOwnLink: a link of this user still leads to the spool.
func TestDiskFollowsOwnLink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.spool")
	path := filepath.Join(dir, "events.spool")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	_, stop := openRunning(t, DiskConfig{Path: path})
	stop()
	if _, err := os.Stat(target); err != nil {
		t.Errorf("spool not made where this user's link leads: %v", err)
	}
}

// TestDiskRefusesFolderLinkOfAnotherUser: a symbolic link another user
// put in a shared folder where the spool's path goes through it (a
// folder of the path, not its last part) is not followed either: else
// the spool is made wherever that user chose, as with a link at the
// path itself.
func TestDiskRefusesFolderLinkOfAnotherUser(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o1777)
	private := t.TempDir()
	link := filepath.Join(dir, "spools")
	if err := os.Symlink(private, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(link, otherUID, otherUID); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(link, "events.spool")
	d, err := OpenDisk(DiskConfig{Path: path})
	if err == nil {
		d.Close()
		t.Fatal("OpenDisk followed a folder link of another user")
	}
	if !strings.Contains(err.Error(), "is a symbolic link of uid 65534") {
		t.Errorf("error = %v; want it to name the link's owner", err)
	}
	if _, err := os.Lstat(filepath.Join(private, "events.spool")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the spool was made through the link (%v)", err)
	}
	if _, err := Salvage(path); err == nil || !strings.Contains(err.Error(), "is a symbolic link of uid 65534") {
		t.Errorf("Salvage: %v; want the link refused", err)
	}
}
