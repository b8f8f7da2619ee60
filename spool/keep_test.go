package spool

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// deliveredSpool makes a spool file with n delivered events, ids "0" to
// n-1 in delivery order, and one pending event "pending", through a Disk
// that keeps them all.
func deliveredSpool(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path, KeepCount: n})
	for i := range n {
		if err := d.Append(Event{ID: fmt.Sprint(i), Key: fmt.Sprint("k", i), Body: []byte(fmt.Sprintf(`{"n":%d}`, i))}, nil); err != nil {
			t.Fatal(err)
		}
	}
	appendSync(t, d, Event{ID: "pending", Key: "call:1", Body: []byte(`{"call_id":1}`)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range n + 1 {
		ev, err := d.Next(ctx)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if ev.ID == "pending" {
			d.Release(ev)
			continue
		}
		d.Ack(ev, []Attempt{{At: time.Now(), Status: 200}})
	}
	stop()
	if got := len(mustList(t, path, Delivered)); got != n {
		t.Fatalf("fixture has %d delivered events, want %d", got, n)
	}
	return path
}

// copyFile copies the spool file at src into a new folder, as a user
// moving a spool would.
func copyFile(t *testing.T, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "events.spool")
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestDiskAppliesLoweredKeepCountAtStart: a spool opened with a KeepCount
// (--keep-delivered) below the delivered history it holds forgets the
// oldest beyond it at once, on disk, without waiting for a delivery; its
// pending events stay. A KeepCount the history fits in writes nothing.
func TestDiskAppliesLoweredKeepCountAtStart(t *testing.T) {
	const n = 1000
	orig := deliveredSpool(t, n)
	all := make([]string, n)
	for i := range all {
		all[i] = fmt.Sprint(i)
	}
	tests := []struct {
		name      string
		keepCount int // DiskConfig.KeepCount: 0 is the default (1000), negative keeps none
		want      []string
	}{
		{"keep 2", 2, []string{"998", "999"}},
		{"keep 1", 1, []string{"999"}},
		{"keep none", -1, nil},
		{"keep 999", 999, all[1:]},
		{"default keeps all", 0, all},
		{"keep more", 5000, all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := copyFile(t, orig)
			before, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			d, stop := openRunning(t, DiskConfig{Path: path, KeepCount: tt.keepCount})
			want := strings.Join(tt.want, " ")
			// What `events list` shows while the agent runs, before any
			// delivery.
			if got := mustList(t, path, Delivered); ids(got) != want {
				t.Errorf("delivered after OpenDisk: %d events (%.60s…), want %d (%.60s…)", len(got), ids(got), len(tt.want), want)
			}
			if d.Len() != 1 {
				t.Errorf("Len = %d, want the 1 pending event", d.Len())
			}
			stop()
			if got := mustList(t, path, Delivered); ids(got) != want {
				t.Errorf("delivered after Run: %d events (%.60s…), want %d (%.60s…)", len(got), ids(got), len(tt.want), want)
			}
			if got := mustList(t, path, Pending); ids(got) != "pending" {
				t.Errorf("pending after Run = %q, want the pending event", ids(got))
			}
			after, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.want) == n && after.Size() != before.Size() {
				t.Errorf("file size %d → %d, want it untouched when the history fits", before.Size(), after.Size())
			}

			// The history forgotten stays forgotten with the default
			// KeepCount, and delivery goes on.
			d, _ = openRunning(t, DiskConfig{Path: path})
			ev := nextNow(t, d)
			if ev.ID != "pending" {
				t.Fatalf("Next after restart = %q, want the pending event", ev.ID)
			}
			if got := mustList(t, path, Delivered); ids(got) != want {
				t.Errorf("delivered after a restart with the default KeepCount: %d events, want %d", len(got), len(tt.want))
			}
		})
	}
}
