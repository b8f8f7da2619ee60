package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/filelock"
)

// createLockWait is how long a --create run waits for the lock of its
// spool's record while another process holds it, as a spool file's lock
// is waited for (spool.DiskConfig.LockTimeout), a little longer.
const createLockWait = 2 * time.Second

// createdLockPath is the lock of the record at record: <base>.created.lock.
// A --create run with a spool holds it from before it reads its record to
// after its record's last write; a run with other --events holds it while
// it reads that record, and while it rewrites it without what it deleted
// (never across a delete). It is never removed.
func createdLockPath(record string) string {
	return strings.TrimSuffix(record, ".created.json") + ".created.lock"
}

// openCreatedLock opens the lock of the record at record, making it.
func openCreatedLock(record string) (*os.File, error) {
	return os.OpenFile(createdLockPath(record), os.O_RDWR|os.O_CREATE, 0o600)
}

// lockCreated takes the lock of this run's record, waiting createLockWait
// while another process holds it, and returns the open file holding it:
// closing it lets go.
func lockCreated(ctx context.Context, record string) (*os.File, error) {
	f, err := openCreatedLock(record)
	if err != nil {
		return nil, fmt.Errorf("--create: lock of the record of what it makes: %w", err)
	}
	err = filelock.Lock(ctx, f, createLockWait)
	if err == nil {
		return f, nil
	}
	f.Close()
	if errors.Is(err, filelock.ErrBusy) {
		return nil, fmt.Errorf("--create: %s is in use (held more than %s): another `listen --create` runs on this spool (the same --events and --env/--api-base, or the same --spool): stop it, or give this one its own --spool PATH; "+
			"if none runs, the last run here is still deleting what it made: start this one again", createdLockPath(record), createLockWait)
	}
	return nil, fmt.Errorf("--create: lock %s: %w", createdLockPath(record), err)
}

// tryLockCreated takes the lock of another spool's record without
// waiting; ok is false when a process holds it (a live run, or another
// run deleting its leftovers) or it cannot be taken.
func tryLockCreated(record string) (f *os.File, ok bool) {
	return tryLockFile(createdLockPath(record), os.O_RDWR|os.O_CREATE)
}

// tryLockFile opens path with flag (os.O_CREATE makes it, mode 0600) and
// takes its lock without waiting, returning the open file holding it:
// closing it lets go. ok is false when the file cannot be opened, a
// process holds its lock, or the lock cannot be taken.
func tryLockFile(path string, flag int) (f *os.File, ok bool) {
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return nil, false
	}
	if held, err := filelock.TryLock(f); err != nil || !held {
		f.Close()
		return nil, false
	}
	return f, true
}
