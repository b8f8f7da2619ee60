//go:build unix

package control

import (
	"fmt"
	"os"
	"syscall"
)

// maxSockLen is the longest path a unix socket may have: sun_path less
// its NUL (107 bytes on Linux, 103 on macOS and the BSDs). Default spool
// paths are often longer with Suffix added, so their socket goes elsewhere.
const maxSockLen = len(syscall.RawSockaddrUnix{}.Path) - 1

// userDirName names this user's directory of control sockets under
// os.TempDir, which all users share.
func userDirName() string { return fmt.Sprintf("dialpad-tunnel-%d", os.Getuid()) }

// ownedPrivate checks that the directory dir, described by fi, belongs to
// this user and has no permission for group or others; with shown, only
// no write permission for them.
func ownedPrivate(dir string, fi os.FileInfo, shown bool) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: cannot tell its owner", dir)
	}
	if uid := os.Getuid(); int(st.Uid) != uid {
		return fmt.Errorf("%s: is owned by uid %d, not this user (uid %d)", dir, st.Uid, uid)
	}
	perm := fi.Mode().Perm()
	switch {
	case shown && perm&0o022 != 0:
		return fmt.Errorf("%s: has mode %04o, which lets group or others write to it", dir, perm)
	case !shown && perm&0o077 != 0:
		return fmt.Errorf("%s: has mode %04o, which lets group or others in (want 0700)", dir, perm)
	}
	return nil
}
