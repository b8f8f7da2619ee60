package spool

import (
	"os"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/filelock"
)

// lockFile takes an exclusive lock on f (filelock), polling until deadline
// while another process holds it. The lock ends when f is closed.
func lockFile(f *os.File, deadline time.Time) error {
	for {
		held, err := filelock.TryLock(f)
		if err != nil || held {
			return err
		}
		if time.Now().After(deadline) {
			return ErrLocked
		}
		time.Sleep(10 * time.Millisecond) // another process's lock gives no signal to wait on
	}
}
