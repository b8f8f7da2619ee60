//go:build unix

package spool

import (
	"os"
	"syscall"
)

// ownerOf is the uid of the file fi describes.
func ownerOf(fi os.FileInfo) (uid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
