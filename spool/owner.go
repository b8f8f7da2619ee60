package spool

import (
	"fmt"
	"os"
	"path/filepath"
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
// where it leads. The links are followed as realPath follows them.
func checkLinks(path string) error {
	p := path
	for range 40 {
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			return nil
		}
		if uid, ok := ownerOf(fi); ok && uid != os.Getuid() && uid != 0 {
			return fmt.Errorf("spool: %s: is a symbolic link of uid %d, neither this user (uid %d) nor root: it was not followed, as whoever made it chooses where the spool is written; remove it, or use a --spool in a folder of this user's", p, uid, os.Getuid())
		}
		target, err := os.Readlink(p)
		if err != nil {
			return nil
		}
		if !filepath.IsAbs(target) {
			dir, err := filepath.EvalSymlinks(rawDir(p))
			if err != nil {
				return nil
			}
			target = filepath.Join(dir, target)
		}
		p = target
	}
	return nil
}

// checkOwner refuses the open spool file f, at path, when another user
// owns it: its owner could read every event written to it.
func checkOwner(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if uid, ok := ownerOf(fi); ok && uid != os.Getuid() {
		return fmt.Errorf("spool: %s: is owned by uid %d, not this user (uid %d): its owner could read every event written to it, so none is; remove it (or chown it, if its owner is to be trusted), or use a --spool in a folder of this user's", path, uid, os.Getuid())
	}
	return nil
}
