//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || windows)

package filelock

import "os"

// TryLock does nothing on this system: two processes working on one file
// are not prevented here.
func TryLock(*os.File) (held bool, err error) { return true, nil }
