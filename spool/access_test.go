//go:build unix

package spool

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestAccessErrorQuotesPaths: the commands an AccessError suggests (chmod
// for this user's own file, ls -ld when the owner cannot be told) quote
// the path, so a folder with a space or a quote in its name pastes as
// one word. They were printed bare: `chmod u+rw /srv/my spool/x.spool`
// changed the wrong files, or none.
func TestAccessErrorQuotesPaths(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "it's my spool")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "events.spool")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	quoted := "'" + strings.ReplaceAll(path, "'", `'\''`) + "'"
	err := openError(path, os.O_RDWR, &fs.PathError{Op: "open", Path: path, Err: syscall.EACCES})
	if want := "give it access (chmod u+rw " + quoted + ")"; !strings.Contains(err.Error(), want) {
		t.Errorf("own file:\n%s\nwant it to say %s", err, want)
	}
	unknown := &AccessError{Path: path, Denied: path, UID: -1, Err: fs.ErrPermission}
	if want := "check the owner and mode (ls -ld " + quoted + ")"; !strings.Contains(unknown.Error(), want) {
		t.Errorf("owner unknown:\n%s\nwant it to say %s", unknown, want)
	}
}
