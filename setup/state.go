package setup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("setup: state file %s: %w", path, err)
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
	return WriteFileAtomic(path, append(b, '\n'))
}

// WriteFileAtomic writes data to a temporary file next to path (mode 0600)
// and renames it over path, so a crash leaves the old or the new file.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("setup: create state directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("setup: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("setup: write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("setup: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("setup: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("setup: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("setup: write %s: %w", path, err)
	}
	return nil
}
