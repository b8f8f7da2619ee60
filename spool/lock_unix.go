//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package spool

import (
	"os"
	"syscall"
	"time"
)

// lockFile takes an exclusive advisory lock on f, polling until deadline
// while another process holds it. The lock ends when f is closed.
func lockFile(f *os.File, deadline time.Time) error {
	return lockPolling(f, deadline, func(fd uintptr) error {
		return syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
	}, syscall.EWOULDBLOCK)
}
