package filelock

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// lockOffsetHigh places the locked byte far beyond any file's data: a
// Windows lock is mandatory for the range it covers, so it must cover no
// byte this process (through another handle) or another reader reads.
const lockOffsetHigh = 0x40000000

// TryLock takes an exclusive lock on one byte of f far past its end
// without waiting; held is false while another handle holds it. The lock
// ends when f is closed.
func TryLock(f *os.File) (held bool, err error) {
	raw, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var lerr error
	if err := raw.Control(func(fd uintptr) {
		ol := windows.Overlapped{OffsetHigh: lockOffsetHigh}
		lerr = windows.LockFileEx(windows.Handle(fd), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	}); err != nil {
		return false, err
	}
	if errors.Is(lerr, windows.ERROR_LOCK_VIOLATION) {
		return false, nil
	}
	return lerr == nil, lerr
}

// Supported reports whether TryLock locks on this system: a lock that is
// free tells that no live process holds it.
const Supported = true
