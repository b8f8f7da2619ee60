package spool

import "syscall"

// diskFree is the space left to this process on the file system of path
// (statfs, counts in F_bsize units; F_bavail is below 0 once root's
// reserve is in use).
func diskFree(path string) (int64, bool) {
	var st syscall.Statfs_t
	if syscall.Statfs(path, &st) != nil {
		return 0, false
	}
	return max(st.F_bavail, 0) * int64(st.F_bsize), true
}

// diskUsed is the space used on the file system of path, by every file.
func diskUsed(path string) (int64, bool) {
	var st syscall.Statfs_t
	if syscall.Statfs(path, &st) != nil {
		return 0, false
	}
	return (int64(st.F_blocks) - int64(st.F_bfree)) * int64(st.F_bsize), true
}
