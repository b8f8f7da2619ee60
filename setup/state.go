package setup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dialpad-tunnel/dialpad-tunnel/atomicfile"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

// State is the local record of the ids setup manages. It holds no secret.
type State struct {
	// APIBase is the API the ids belong to; a state file is never applied
	// to another one.
	APIBase       string                         `json:"api_base"`
	WebsocketID   dialpad.ID                     `json:"websocket_id,omitempty"`
	Subscriptions map[string]ManagedSubscription `json:"subscriptions,omitempty"`
}

// ManagedSubscription is one subscription setup created, keyed in State by
// the spec's name.
type ManagedSubscription struct {
	Type dialpad.SubscriptionType `json:"type"`
	ID   dialpad.ID               `json:"id"`
}

// LoadState reads the state file at path; a missing file is an empty State.
func LoadState(path string) (State, error) {
	var st State
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("setup: read state: %w", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return st, fmt.Errorf("setup: state file %s is empty (truncated, or made with touch?): it should hold the ids setup manages; "+
			"remove it and run setup again, once `dialpad-tunnel websockets list` and `subscriptions list` show that nothing setup made is left "+
			"(setup would make it again; adopt a websocket with websocket: id: in the setup file)", path)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("setup: state file %s: %w (not a state file written by setup? check it, or pass --state with another path)", path, err)
	}
	return st, nil
}

// SaveState writes st to path atomically with mode 0600, creating the
// directory with mode 0700 when needed.
func SaveState(path string, st State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("setup: encode state: %w", err)
	}
	if err := atomicfile.WriteFile(path, append(b, '\n')); err != nil {
		return fmt.Errorf("setup: write %s: %w", path, err)
	}
	return nil
}

// maxLinks bounds the symbolic links RealStatePath follows, as the kernel's
// own limit (40 on Linux) does.
const maxLinks = 40

// RealStatePath follows path through any symbolic links to the file they
// name, so that the lock, the reads and the atomic rename all act on that
// file: renaming onto the link would put a plain file in its place, and a
// run through the link and one through the real path would not see each
// other's lock. A dangling link is followed too: the file it names is
// created by the first save, as for a --spool that is a link. A link into
// a folder that is not there (a disk not mounted?) is an error, not a
// folder made where it leads; so is a chain of links too long to follow.
// A path that is not a link is returned as it is.
func RealStatePath(path string) (string, error) {
	p := path
	for range maxLinks {
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			return p, nil // a missing file is created; other errors come when it is read
		}
		target, err := os.Readlink(p)
		if err != nil {
			return "", fmt.Errorf("setup: state file %s: %w", path, err)
		}
		if !filepath.IsAbs(target) {
			// Relative to the folder the link is really in, as the kernel
			// reads it.
			dir, err := filepath.EvalSymlinks(filepath.Dir(p))
			if err != nil {
				return "", fmt.Errorf("setup: state file %s: %w", path, err)
			}
			target = filepath.Join(dir, target)
		}
		if _, err := os.Stat(filepath.Dir(target)); err != nil {
			return "", fmt.Errorf("setup: state file %s is a symbolic link to %s, whose folder is not there (a disk not mounted?): "+
				"create the folder, or fix the link", path, target)
		}
		p = target
	}
	return "", fmt.Errorf("setup: state file %s: more than %d symbolic links to follow (a loop?)", path, maxLinks)
}
