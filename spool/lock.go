package spool

import (
	"context"
	"errors"
	"fmt"
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

// Hold takes, without waiting, the lock that OpenDisk takes on the spool
// file at path, and returns the open file holding it: closing it lets go.
// Nothing is read from the file or written to it, nor is its mode
// changed: it only keeps a run from opening the file meanwhile (OpenDisk
// waits its LockTimeout, then fails with ErrLocked). It fails with an
// error wrapping ErrLocked while another process holds the file, and one
// wrapping fs.ErrNotExist when there is no file at path.
func Hold(path string) (*os.File, error) {
	for {
		if fi, err := os.Stat(path); err != nil {
			return nil, err
		} else if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("spool: %s: not a regular file", path)
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		if err := lockFile(f, time.Time{}); err != nil {
			f.Close()
			return nil, fmt.Errorf("spool: %s: %w", path, err)
		}
		// As openLocked: compaction renames a new file over the path.
		same, err := isPath(f, path)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("spool: %w", err)
		}
		if same {
			return f, nil
		}
		f.Close() // compacted or removed meanwhile: open what the path names now
	}
}
