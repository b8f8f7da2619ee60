package spool

import (
	"errors"
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
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	for {
		var lerr error
		if err := raw.Control(func(fd uintptr) {
			ol := windows.Overlapped{OffsetHigh: lockOffsetHigh}
			lerr = windows.LockFileEx(windows.Handle(fd), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
		}); err != nil {
			return err
		}
		if !errors.Is(lerr, windows.ERROR_LOCK_VIOLATION) {
			return lerr
		}
		if time.Now().After(deadline) {
			return ErrLocked
		}
		time.Sleep(10 * time.Millisecond) // another process's lock gives no signal to wait on
	}
}
