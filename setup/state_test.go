package setup_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/setup"
)

// TestStateThroughASymlink: a state file named through a symbolic link is
// the file the link names: it is written there (the link stays a link),
// and a run through the link and one through the real path share one
// lock, so the second waits instead of planning from the same state.
func TestStateThroughASymlink(t *testing.T) {
	srv, err := dialpadtest.NewServer(dialpadtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := dialpad.New(dialpad.Config{BaseURL: srv.URL(), APIKey: srv.APIKey(), MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	real := filepath.Join(dir, "real.json")
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink("real.json", link); err != nil { // dangling until the first save
		t.Skip("no symbolic links here:", err)
	}
	newSetup := func(state string) *setup.Setup {
		s, err := setup.New(setup.Config{Client: c, APIBase: srv.URL(), StatePath: state, LockWait: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	viaLink, viaReal := newSetup(link), newSetup(real)
	ctx := context.Background()
	unlock, err := viaLink.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := viaReal.Lock(ctx); !errors.Is(err, setup.ErrLocked) {
		t.Errorf("lock through the real path while the link's run holds it: %v, want ErrLocked", err)
	}
	f, err := setup.Parse([]byte("subscriptions: [{type: call}]"), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := viaLink.Plan(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := viaLink.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	unlock()
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link after a save: %v, %v; want it still a link", fi, err)
	}
	if _, err := os.Lstat(link + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a lock file beside the link: %v; want the real file's only", err)
	}
	st, err := setup.LoadState(real)
	if err != nil || st.WebsocketID == 0 || len(st.Subscriptions) != 1 {
		t.Fatalf("state in the file the link names: %+v, %v", st, err)
	}
	// A run through the real path finds everything made.
	p, err = viaReal.Plan(ctx, f)
	if err != nil || p.Writes() != 0 {
		t.Errorf("plan through the real path: %d writes, %v; want none\n%v", p.Writes(), err, p.Actions)
	}

	// A link into a folder that is not there is refused, not made.
	gone := filepath.Join(dir, "gone.json")
	if err := os.Symlink(filepath.Join(dir, "unmounted", "setup.json"), gone); err != nil {
		t.Fatal(err)
	}
	_, err = setup.New(setup.Config{Client: c, APIBase: srv.URL(), StatePath: gone})
	if err == nil || !strings.Contains(err.Error(), "state file "+gone+" is a symbolic link to ") || !strings.Contains(err.Error(), "whose folder is not there") {
		t.Errorf("a link into a missing folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "unmounted")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the missing folder was made: %v", err)
	}
}

// TestLoadStateEmptyOrDamaged: an empty state file is named, with what to
// do; one that is not JSON is named too.
func TestLoadStateEmptyOrDamaged(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := setup.LoadState(empty)
	if err == nil || !strings.HasPrefix(err.Error(), "setup: state file "+empty+" is empty") || !strings.Contains(err.Error(), "remove it and run setup again") {
		t.Errorf("empty state file: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("subscriptions: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := setup.LoadState(bad); err == nil || !strings.Contains(err.Error(), "state file "+bad+": ") || !strings.Contains(err.Error(), "pass --state with another path") {
		t.Errorf("damaged state file: %v", err)
	}
}
