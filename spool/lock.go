package spool

import (
	"errors"
	"os"
	"time"
)

// lockPolling takes a lock on f with try, which attempts it once without
// waiting and fails with busy while another process holds it, polling
// until deadline. The lock ends when f is closed.
func lockPolling(f *os.File, deadline time.Time, try func(fd uintptr) error, busy error) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	for {
		var lerr error
		if err := raw.Control(func(fd uintptr) { lerr = try(fd) }); err != nil {
			return err
		}
		if !errors.Is(lerr, busy) {
			return lerr
		}
		if time.Now().After(deadline) {
			return ErrLocked
		}
		time.Sleep(10 * time.Millisecond) // another process's lock gives no signal to wait on
	}
}
