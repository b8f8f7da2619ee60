package spool

import (
	"os"
	"time"

	"golang.org/x/sys/windows"
)

// lockOffsetHigh places the locked byte far beyond any spool's data: a
// Windows lock is mandatory for the range it covers, so it must cover no
// byte this process (through another handle) or an `events` command reads.
const lockOffsetHigh = 0x40000000

// lockFile takes an exclusive lock on one byte of f far past its end,
// polling until deadline while another process holds it. The lock ends
// when f is closed.
func lockFile(f *os.File, deadline time.Time) error {
	return lockPolling(f, deadline, func(fd uintptr) error {
		ol := windows.Overlapped{OffsetHigh: lockOffsetHigh}
		return windows.LockFileEx(windows.Handle(fd), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	}, windows.ERROR_LOCK_VIOLATION)
}
