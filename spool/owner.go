package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/dialpad-tunnel/dialpad-tunnel/osuser"
)

// A spool in a folder others may write to (/tmp, say) may find there, put
// by another user before it starts, a file of theirs at its path, or a
// symbolic link of theirs to a place of their choosing. Written to, the
// first hands that user every event (they own it: whatever its mode is
// set to, they set it back); followed, the second makes the spool (mode
// 0600, the agent's user, root's too) wherever they chose. Linux refuses
// to follow such a link in a sticky folder (fs.protected_symlinks) and to
// open such a file there (fs.protected_regular), where those are on; they
// often are not in a container. So a spool that listen writes must be a
// file of its own user, reached through links of that user or root.

// checkLinks refuses path when it is, or leads through, a symbolic link
// owned by another user than this one or root, before anything is made
// where it leads: a link at any part of the path, a folder's as much as
// the file's (a link to a folder of their choosing, put in a shared
// folder, places the spool there as a link at the path itself does).
// The links are followed, part by part, as the system follows them.
func checkLinks(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil // opening it says what is wrong
	}
	vol := filepath.VolumeName(abs)
	done := vol + string(filepath.Separator)
	rest := splitPath(abs[len(vol):])
	for hops := 0; len(rest) > 0; {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			done = filepath.Dir(done)
			continue
		}
		p := filepath.Join(done, name)
		fi, err := os.Lstat(p)
		if err != nil {
			return nil // made anew from here on, with no link in it
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			done = p
			continue
		}
		if uid, ok := osuser.Owner(fi); ok && uid != os.Getuid() && uid != 0 {
			return fmt.Errorf("spool: %s: is a symbolic link of uid %d, neither this user (uid %d) nor root: it was not followed, as whoever made it chooses where the spool is written; remove it, or use a --spool in a folder of this user's", p, uid, os.Getuid())
		}
		if hops++; hops > 40 {
			return nil // a loop: opening it says so
		}
		target, err := os.Readlink(p)
		if err != nil {
			return nil
		}
		if filepath.IsAbs(target) {
			vol = filepath.VolumeName(target)
			done = vol + string(filepath.Separator)
			target = target[len(vol):]
		}
		rest = append(splitPath(target), rest...)
	}
	return nil
}

// splitPath is the parts of path, between its separators.
func splitPath(path string) []string {
	return strings.Split(path, string(filepath.Separator))
}

// checkOwner refuses the open spool file f, at path, when another user
// owns it: its owner could read every event written to it.
func checkOwner(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if uid, ok := osuser.Owner(fi); ok && uid != os.Getuid() && rootMadeInOwnFolder(path, uid) {
		return fmt.Errorf("spool: %s: is owned by %s, not %s, mode %04o: its owner could read every event written to it, so none is; %s", path, osuser.Label(uid), osuser.This(), fi.Mode().Perm(), rootMadeAdvice(path))
	} else if ok && uid != os.Getuid() {
		return fmt.Errorf("spool: %s: is owned by %s, not this user (uid %d), mode %04o: its owner could read every event written to it, so none is; if it is the spool of that user's listen, run listen as that user (sudo -u %s dialpad-tunnel listen …); else remove it (or chown it, if its owner is to be trusted), or use a --spool in a folder of this user's", path, osuser.Label(uid), os.Getuid(), fi.Mode().Perm(), osuser.Sudo(uid))
	}
	return nil
}

// CheckMake refuses, to root, to make the spool file at path (nothing is
// there) in a folder of another user than root that others may not write
// to: a service's StateDirectory, where `sudo dialpad-tunnel listen` was
// run to try something. The file would be root's, and so would the
// folders made on its way, the files beside it (its compaction's, its
// handler's record, --create's record and lock) and its control socket:
// that user's listen would then refuse the spool as another user's
// (checkOwner), or could not enter the folder, and the service would be
// locked out of its own folder. So nothing is made, and the error says to
// run listen as that user; an existing spool of theirs is refused as
// such (checkOwner). In a folder of root's, or one every user may write
// to (/tmp), the file is root's as any file root makes. The folder looked
// at is the nearest one there above the file, through the links that
// lead to it.
func CheckMake(path string) error {
	if os.Getuid() != 0 {
		return nil
	}
	real := realPath(path)
	if _, err := os.Lstat(real); !errors.Is(err, fs.ErrNotExist) {
		return nil // there, or cannot tell: opening it says what is wrong
	}
	dir, fi := VisibleAbove(real)
	if fi == nil {
		return nil
	}
	uid, ok := osuser.Owner(fi)
	if !ok || uid == 0 || fi.Mode().Perm()&0o002 != 0 {
		return nil
	}
	where := "its folder " + dir
	if dir != filepath.Dir(real) {
		where = "the nearest folder above it, " + dir + ","
	}
	return fmt.Errorf("spool: %s: is not there, and %s is %s, mode %04o: a spool root makes there is root's, and that user's listen would refuse it, so nothing is made; if it is the spool of that user's listen, run listen as that user (sudo -u %s dialpad-tunnel listen …), or use a --spool in a folder of root's",
		real, where, osuser.Possessive(uid), fi.Mode().Perm(), osuser.Sudo(uid))
}
