package migrate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dialpad-tunnel/dialpad-tunnel/filelock"
)

// ErrRecordLocked is wrapped by LockRecord when another process holds the
// lock of the record.
var ErrRecordLocked = errors.New("another migrate is using it")

// LockRecord takes the exclusive lock of a migration or a rollback on the
// record at path, so that two never work on one record at once (two
// rollbacks would both restore, and both retire it; two migrations would
// both create a websocket, and one record would name only one). A
// rollback holds it from reading the record to retiring it
// (RetireRecord); a migration from its check that no record is there to
// its last write of it. It makes the record's folder if need be. It does not wait: while another process
// holds it, it fails with an error naming the record and wrapping
// ErrRecordLocked.
//
// The lock is an advisory lock (filelock) on the file path+".lock", made
// beside the record (mode 0600) and left there, as setup's state lock is:
// removing it could let a third rollback lock a new file while the second
// still holds the old one. The lock ends when unlock is called or the
// process exits.
func LockRecord(path string) (unlock func() error, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("migrate: lock record: %w", err)
	}
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("migrate: lock rollback record: %w", err)
	}
	held, err := filelock.TryLock(f)
	switch {
	case err != nil:
		f.Close()
		return nil, fmt.Errorf("migrate: lock rollback record %s: %w", path, err)
	case !held:
		f.Close()
		return nil, fmt.Errorf("migrate: record %s: %w (a migration or a rollback: let it finish, then run this again)", path, ErrRecordLocked)
	}
	return f.Close, nil
}

// RetireRecord moves the record at path, rolled back, to the name after
// the latest one LastRetired finds: path+".rolled-back", then
// ".rolled-back.2", ".rolled-back.3", …, and returns that name. The name is
// claimed by making it exclusively before the record is renamed onto it,
// so no file is ever replaced, not even one another process made since
// the names were read.
func RetireRecord(path string) (string, error) {
	n, err := lastRetired(path)
	if err != nil {
		return "", err
	}
	for n++; ; n++ {
		name := retiredName(path, n)
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		f.Close()
		if err := os.Rename(path, name); err != nil {
			os.Remove(name)
			return "", err
		}
		return name, nil
	}
}

// LastRetired is the latest name RetireRecord gave for the record at path
// (the highest number, whichever earlier ones were removed since), or ""
// if there is none.
func LastRetired(path string) string {
	n, err := lastRetired(path)
	if err != nil || n == 0 {
		return ""
	}
	return retiredName(path, n)
}

// lastRetired is the highest number of a retired name of path in its
// folder, 0 if there is none.
func lastRetired(path string) (int, error) {
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return 0, err
	}
	prefix := filepath.Base(path) + ".rolled-back"
	last := 0
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		n := 1
		if rest != "" {
			digits, ok := strings.CutPrefix(rest, ".")
			var err error
			if n, err = strconv.Atoi(digits); !ok || err != nil || n < 2 || strconv.Itoa(n) != digits {
				continue
			}
		}
		last = max(last, n)
	}
	return last, nil
}

// retiredName is the n-th (from 1) name of the rolled-back record at path.
func retiredName(path string, n int) string {
	if n == 1 {
		return path + ".rolled-back"
	}
	return path + ".rolled-back." + strconv.Itoa(n)
}
