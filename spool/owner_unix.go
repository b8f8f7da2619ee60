//go:build unix

package spool

import (
	"os"
	"syscall"
)

// keepOwner gives f, a new file that is to replace the file fi describes,
// that file's owner and group where they differ: a salvage run as root on
// the spool of a service's user would otherwise leave a file of root's,
// which that user's listen refuses (checkOwner). Only root may give a
// file away; a group that this user may not give it is left as it is when
// the owner is already the same (the owner's listen opens it all the
// same), else the error says so.
func keepOwner(f *os.File, fi os.FileInfo) error {
	want, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	now, err := f.Stat()
	if err != nil {
		return err
	}
	have, ok := now.Sys().(*syscall.Stat_t)
	if !ok || have.Uid == want.Uid && have.Gid == want.Gid {
		return nil
	}
	if err := f.Chown(int(want.Uid), int(want.Gid)); err != nil && have.Uid != want.Uid {
		return err
	}
	return nil
}

// keepFileOwner is keepOwner of f, to replace the open file old.
func keepFileOwner(f, old *os.File) error {
	fi, err := old.Stat()
	if err != nil {
		return err
	}
	return keepOwner(f, fi)
}
