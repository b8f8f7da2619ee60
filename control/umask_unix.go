//go:build unix

package control

import "syscall"

// private runs f with the process's umask at 0177, so that a socket f
// makes is never open to group or others, even for a moment. The umask is
// the process's: listen calls it before anything else makes files.
func private(f func() error) error {
	old := syscall.Umask(0o177)
	defer syscall.Umask(old)
	return f()
}
