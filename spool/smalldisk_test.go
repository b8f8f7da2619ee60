package spool

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// TestDiskCompactsEarlyWithManyLive: on a small volume (5 MiB, as the file
// system reports it, the compaction's copy counted) where 1.6 MiB of dead
// letters stay live, the garbage of the events delivered since is
// compacted while the copy still fits: the file and its copy never need
// more than the volume. Compactions waited for the garbage to outweigh the
// live frames and for the disk to have less room left than the garbage, by
// when the copy no longer fit: on a real 4 MiB tmpfs the disk filled, 60%
// of it garbage, and the spool paused for good.
func TestDiskCompactsEarlyWithManyLive(t *testing.T) {
	const volume = 5 << 20
	path := filepath.Join(t.TempDir(), "events.spool")
	size := func(p string) int64 {
		fi, err := os.Stat(p)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	var peak atomic.Int64
	used := func() int64 {
		u := size(path) + size(path+compactSuffix)
		for {
			p := peak.Load()
			if u <= p || peak.CompareAndSwap(p, u) {
				return u
			}
		}
	}
	cfg := DiskConfig{Path: path, KeepCount: 5, diskFree: func(string) (int64, bool) {
		return max(volume-used(), 0), true
	}}
	d, stop := openRunning(t, cfg)
	body := bytes.Repeat([]byte("x"), 4<<10)
	for i := range 400 { // 1.6 MiB of dead letters
		appendSync(t, d, Event{ID: fmt.Sprint("dead-", i), Key: fmt.Sprint("d", i), Body: body})
		d.Dead(nextNow(t, d), "400", nil)
	}
	for i := range 1500 { // 6 MiB of events, delivered as they come
		appendSync(t, d, Event{ID: fmt.Sprint("id-", i), Key: fmt.Sprint("k", i), Body: body})
		d.Ack(nextNow(t, d), nil)
		used()
	}
	stop()
	if p := peak.Load(); p >= volume {
		t.Errorf("the file and its compaction's copy took %d bytes on a %d-byte volume: compacted too late for the copy to fit", p, volume)
	}
	if dead := mustList(t, path, Dead); len(dead) != 400 {
		t.Errorf("%d dead letters, want 400", len(dead))
	}
}
