package spool

import (
	"os"
	"syscall"
)

// datasync makes f's written bytes (and its size) durable: fdatasync,
// which skips the metadata that reading the data back does not need.
func datasync(f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = syscall.Fdatasync(int(fd)) }); err != nil {
		return err
	}
	return serr
}
