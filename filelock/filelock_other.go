//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || windows)

package filelock

import "os"

// TryLock does nothing on this system: two processes working on one file
// are not prevented here.
func TryLock(*os.File) (held bool, err error) { return true, nil }

// Supported is false: TryLock does not lock on this system, so a held
// lock cannot tell a live process from a gone one.
const Supported = false
