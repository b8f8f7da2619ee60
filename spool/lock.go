package spool

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/filelock"
)

// lockFile takes an exclusive lock on f (filelock), waiting until deadline
// while another process holds it. The lock ends when f is closed.
func lockFile(f *os.File, deadline time.Time) error {
	err := filelock.Lock(context.Background(), f, time.Until(deadline))
	if errors.Is(err, filelock.ErrBusy) {
		return ErrLocked
	}
	return err
}
