//go:build unix

package osuser

import (
	"os"
	"syscall"
)

// Owner is the uid of the file fi describes.
func Owner(fi os.FileInfo) (uid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
