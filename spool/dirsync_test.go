package spool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
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
