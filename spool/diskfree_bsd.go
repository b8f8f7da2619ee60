//go:build darwin || freebsd || dragonfly

package spool

import "syscall"

// diskFree is the space left to this process on the file system of path
// (statfs: its counts are in Bsize units, whose type differs per system;
// Bavail is below 0 on FreeBSD once root's reserve is in use).
func diskFree(path string) (int64, bool) {
	var st syscall.Statfs_t
	if syscall.Statfs(path, &st) != nil {
		return 0, false
	}
	return max(int64(st.Bavail), 0) * int64(st.Bsize), true
}

// diskUsed is the space used on the file system of path, by every file.
func diskUsed(path string) (int64, bool) {
	var st syscall.Statfs_t
	if syscall.Statfs(path, &st) != nil {
		return 0, false
	}
	return (int64(st.Blocks) - int64(st.Bfree)) * int64(st.Bsize), true
}
