package spool

import (
	"errors"

	"golang.org/x/sys/windows"
)

// noSpaceSystem reports whether err is Windows' own for want of space:
// its errors are not syscall.ENOSPC or EDQUOT, which Go invents there.
func noSpaceSystem(err error) bool {
	return errors.Is(err, windows.ERROR_DISK_FULL) || errors.Is(err, windows.ERROR_HANDLE_DISK_FULL) ||
		errors.Is(err, windows.ERROR_DISK_QUOTA_EXCEEDED) || errors.Is(err, windows.ERROR_FILE_TOO_LARGE)
}
