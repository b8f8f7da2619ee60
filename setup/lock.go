package setup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dialpad-tunnel/dialpad-tunnel/filelock"
)

// ErrLocked is wrapped by Lock when another setup run holds the state
// file's lock past Config.LockWait.
var ErrLocked = errors.New("another setup run is using it")

// Lock takes the exclusive lock of a run on the state file, so that two
// runs never plan from the same state and both create everything. It must
// be held from Plan to the end of Apply. It waits up to Config.LockWait for
// another run (in any process) to finish, or until ctx is done, then fails
// with an error naming the state file and wrapping ErrLocked.
//
// The lock is an advisory lock on the file StatePath+".lock", created next
// to the state file (mode 0600) and left there: removing it could let a
// third run lock a new file while the second still holds the old one. The
// lock ends when unlock is called or the process exits.
func (s *Setup) Lock(ctx context.Context) (unlock func() error, err error) {
	path := s.cfg.StatePath + ".lock"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("setup: create state directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("setup: lock state file: %w", err)
	}
	switch err := filelock.Lock(ctx, f, s.cfg.LockWait); {
	case errors.Is(err, filelock.ErrBusy):
		f.Close()
		return nil, fmt.Errorf("setup: state file %s: %w (waited %s; let the other setup finish, then run again)", s.cfg.StatePath, ErrLocked, s.cfg.LockWait)
	case ctx.Err() != nil && err != nil:
		f.Close()
		return nil, fmt.Errorf("setup: state file %s: waiting for another setup run: %w", s.cfg.StatePath, err)
	case err != nil:
		f.Close()
		return nil, fmt.Errorf("setup: lock %s: %w", path, err)
	}
	return f.Close, nil
}
