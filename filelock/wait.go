package filelock

import (
	"context"
	"errors"
	"os"
	"time"
)

// ErrBusy is Lock's error when another process still holds the lock once
// its wait is over.
var ErrBusy = errors.New("locked by another process")

// poll is how often Lock tries again: another process's lock gives no
// signal to wait on.
const poll = 10 * time.Millisecond

// Lock takes the exclusive lock on f (TryLock), trying again while another
// process holds it for up to wait (0 or less: one try), or until ctx is
// done (its error). It fails with ErrBusy when the wait is over.
func Lock(ctx context.Context, f *os.File, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		held, err := TryLock(f)
		if err != nil || held {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return ErrBusy
		}
		t := time.NewTimer(min(left, poll))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
