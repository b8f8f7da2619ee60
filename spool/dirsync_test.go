package spool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFolderSyncAfterCompaction: when the folder cannot be synced after a
// compaction renamed the new file into place, nothing stored after it is
// reported stored before the folder is synced: the next commit syncs it
// first, and goes on if that works; if it fails again the spool stops, as
// on a failed sync, and the append is not reported stored. (Before, a
// warning was all: a crash could bring back the file as it was before the
// compaction, without the events reported stored since.)
func TestFolderSyncAfterCompaction(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures int32 // folder syncs that fail
		wantStop bool
	}{{"synced at the next commit", 1, false}, {"still failing", 1 << 20, true}} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.spool")
			var fail atomic.Int32
			logged := make(messages, 256)
			gate := make(chan struct{})
			cfg := DiskConfig{Path: path, KeepCount: -1, CompactAfter: 1, CommitInterval: time.Millisecond, Logger: slog.New(logged), compactGate: gate,
				syncDir: func(dir string) error {
					if fail.Load() > 0 {
						fail.Add(-1)
						return errors.New("injected: folder sync failed")
					}
					return syncDir(dir)
				}}
			d, err := OpenDisk(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- d.Run(ctx) }()
			for i := 0; ; i++ { // garbage until a compaction begins and holds
				if i == 1000 {
					t.Fatal("no compaction after 1,000 delivered events")
				}
				appendSync(t, d, Event{ID: fmt.Sprint("e", i), Key: "k", Body: []byte(`{}`)})
				d.Ack(nextNow(t, d), nil)
				select {
				case <-gate:
				default:
					continue
				}
				break
			}
			fail.Store(tc.failures)
			gate <- struct{}{} // the copy goes on to its rename, and the folder's sync
			waitMessage(t, logged, "compacted, but the folder could not be synced")
			stored := make(chan struct{})
			appendErr := d.Append(Event{ID: "after", Key: "k2", Body: []byte(`{}`)}, func(Event) { close(stored) })
			if !tc.wantStop {
				if appendErr != nil {
					t.Fatal(appendErr)
				}
				select {
				case <-stored:
				case <-time.After(10 * time.Second):
					t.Fatal("the append after the compaction was not stored, though the folder synced at the next commit")
				}
				d.Close()
				cancel()
				if err := <-done; err != nil {
					t.Fatalf("Run: %v", err)
				}
				if got := ids(mustList(t, path, Pending)); got != "after" {
					t.Fatalf("pending after the run: %q, want after", got)
				}
				return
			}
			var runErr error
			select {
			case runErr = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run went on although the folder could not be synced")
			}
			if runErr == nil || !strings.Contains(runErr.Error(), "sync the folder after a compaction") {
				t.Fatalf("Run = %v, want the folder sync's failure", runErr)
			}
			select {
			case <-stored:
				t.Fatal("the append was reported stored, though the folder could not be synced")
			default:
			}
		})
	}
}

// syncLog records the folders a spool syncs, in order, through
// DiskConfig.syncDir, which goes on to sync them.
type syncLog struct {
	mu   sync.Mutex
	dirs []string
	fail bool // syncs fail (after being recorded)
}

func (l *syncLog) sync(dir string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dirs = append(l.dirs, dir)
	if l.fail {
		return errors.New("injected: folder sync failed")
	}
	return syncDir(dir)
}

// take returns the folders synced since the last take, sorted, once each.
func (l *syncLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	dirs := l.dirs
	l.dirs = nil
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

// TestMadeFoldersSynced: the folders made for a spool file at its first
// start (several, on a fresh host: ~/.local/state/dialpad-tunnel/...) are
// each synced, and so is the folder above the topmost made, whose entry
// for it is new too; folders there already are not. (Before, only the
// spool's folder and the one above it were synced: a crash soon after
// the first start could lose the rest, and the file with them.)
func TestMadeFoldersSynced(t *testing.T) {
	for _, tc := range []struct {
		name   string
		exists string // made before, under the test's folder
		want   []string
	}{
		{"all made", "", []string{"", "a", "a/b", "a/b/c"}},
		{"some made", "a", []string{"a", "a/b", "a/b/c"}},
		{"one made", "a/b", []string{"a/b", "a/b/c"}},
		{"none made", "a/b/c", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.MkdirAll(filepath.Join(root, tc.exists), 0o700); err != nil {
				t.Fatal(err)
			}
			var l syncLog
			dir := filepath.Join(root, "a", "b", "c")
			if err := makeFolder(dir, l.sync); err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, w := range tc.want {
				want = append(want, filepath.Join(root, w))
			}
			if got := l.take(); !slices.Equal(got, want) {
				t.Errorf("synced %q, want %q", got, want)
			}
			if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("the folder made: %v, %v; want mode 0700", fi, err)
			}
		})
	}
}

// TestMadeFolderSyncFails: a folder made that cannot be synced is an
// error naming it, once.
func TestMadeFolderSyncFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a")
	l := syncLog{fail: true}
	err := makeFolder(dir, l.sync)
	if err == nil || !strings.Contains(err.Error(), "injected") || strings.Count(err.Error(), dir) != 1 {
		t.Fatalf("makeFolder = %v, want the sync's failure, naming %s once", err, dir)
	}
}

// TestRemovedFoldersSyncedWhenMadeAgain: when the spool's folders are
// removed with its file while it runs, the ones made again to write it
// again are each synced, and the folder above the topmost; the file's
// entry in its folder too. (Before, only the spool's folder was synced,
// as the file was linked there: its entry in the folder above, made
// again, was not, and a crash could lose the file just written again.)
func TestRemovedFoldersSyncedWhenMadeAgain(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b")
	path := filepath.Join(dir, "events.spool")
	var l syncLog
	logged := make(messages, 64)
	d, stop := openRunningLost(t, DiskConfig{Path: path, Heartbeat: time.Hour, Logger: slog.New(logged), syncDir: l.sync})
	fill(t, d, 0, 2)
	l.take()
	if err := os.RemoveAll(filepath.Join(root, "a")); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v, want the file written again", err)
	}
	waitMessage(t, logged, "the removed file is written again")
	want := []string{root, filepath.Join(root, "a"), dir}
	if got := l.take(); !slices.Equal(got, want) {
		t.Errorf("synced %q, want %q", got, want)
	}
	if got := ids(mustList(t, path, Pending)); got != "id-0 id-1" {
		t.Fatalf("pending after the restart: %q, want id-0 id-1", got)
	}
}

// TestRemovedFolderMadeAgainUnsynced: a folder made again that cannot be
// synced is warned of, and the file is written in it all the same:
// stopping without it would lose its events for sure.
func TestRemovedFolderMadeAgainUnsynced(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	path := filepath.Join(dir, "events.spool")
	l := syncLog{}
	logged := make(messages, 64)
	d, stop := openRunningLost(t, DiskConfig{Path: path, Heartbeat: time.Hour, Logger: slog.New(logged), syncDir: l.sync})
	fill(t, d, 0, 2)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	l.fail = true
	l.mu.Unlock()
	stop()
	waitMessage(t, logged, "the removed file's folder was made again, but not synced")
	if got := ids(mustList(t, path, Pending)); got != "id-0 id-1" {
		t.Fatalf("pending after the restart: %q, want id-0 id-1", got)
	}
}
