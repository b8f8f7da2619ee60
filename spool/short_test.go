//go:build linux

package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDiskRecoversWhenItsBacklogFillsTheDisk: the handler down, the
// spool's own backlog fills its volume (1 MiB, as the file system reports
// it, and no file may grow beyond it); once the handler is back the spool
// recovers by itself: every event is delivered once, with its bytes, in
// order within its key, and the file shrinks. It used to wait for space
// that only its own deliveries could free, and their outcomes could not
// be written (found by a black-box review: 0 deliveries in the minute
// after the handler came back, 2,441 events lost at the stop).
func TestDiskRecoversWhenItsBacklogFillsTheDisk(t *testing.T) {
	const (
		volume = 1 << 20
		n      = 3000 // about 3 MiB of events
		keys   = 20
	)
	d, stop, path, body, published, logged := fillShort(t, volume, n, keys)

	// The handler is back.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	got := map[string][]int{} // per key, the events in the order delivered
	delivered := 0
	var workers sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for {
				ev, err := d.Next(ctx)
				if err != nil {
					errs <- err
					return
				}
				var i int
				fmt.Sscan(ev.ID, &i)
				mu.Lock()
				if !bytes.Equal(ev.Body, body(i)) {
					t.Errorf("event %s delivered with other bytes: %.40q", ev.ID, ev.Body)
				}
				got[ev.Key] = append(got[ev.Key], i)
				delivered++
				done := delivered == n
				mu.Unlock()
				d.Ack(ev, nil)
				if done {
					cancel()
				}
			}
		}()
	}
	workers.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Next: %v", err)
		}
	}
	if delivered != n {
		t.Fatalf("%d of %d events delivered in a minute after the handler came back", delivered, n)
	}
	if err := <-published; err != nil {
		t.Fatalf("Append: %v", err)
	}
	for k, seq := range got {
		for j := 1; j < len(seq); j++ {
			if seq[j] != seq[j-1]+keys {
				t.Fatalf("key %s delivered out of order or not once each: %v", k, seq)
			}
		}
	}
	for deadline := time.Now().Add(30 * time.Second); d.Paused() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("still short of space 30 s after every event was delivered")
		}
	}
	var last string
	for len(logged) > 0 {
		if msg := <-logged; strings.Contains(msg, "writing again") || strings.Contains(msg, "short of space") {
			last = msg
		}
	}
	if !strings.Contains(last, "spool: writing again") || !strings.Contains(last, path) {
		t.Errorf("the last word on space is %q, want writing again, naming the file", last)
	}
	stop()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// Compacted while short of space: with the reserve made again, it fits
	// the volume. (Outcomes written once the spool left that state may
	// have grown it since, as garbage below what a compaction waits for.)
	if fi.Size()+reserveBytes > volume {
		t.Errorf("the file holds %d bytes once every event is delivered: no room for its reserve, not compacted", fi.Size())
	}
	if pending := mustList(t, path, Pending); len(pending) != 0 {
		t.Errorf("%d events pending after all were delivered, want none", len(pending))
	}
	if _, err := os.Stat(path + reserveSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the reserve is left after the stop: %v", err)
	}
}

// fillShort opens a spool on a volume of volume bytes (see onVolume),
// appends n events of 1 KiB with nothing delivered, and returns once the
// spool is short of space.
func fillShort(t *testing.T, volume int64, n, keys int) (d *Disk, stop func(), path string, body func(int) []byte, published chan error, logged messages) {
	d, stop, path, logged = onVolume(t, volume)
	return d, stop, path, kibBody, publishShort(t, d, 0, n, keys), logged
}

// publishShort appends n events of 1 KiB to d (kibBody), numbered from
// from, with nothing delivered, and returns once the spool is short of
// space; the channel tells how the appends ended.
func publishShort(t *testing.T, d *Disk, from, n, keys int) chan error {
	published := make(chan error, 1)
	go func() {
		for i := from; i < from+n; i++ {
			if err := d.Append(Event{ID: fmt.Sprint(i), Key: fmt.Sprint("k", i%keys), Body: kibBody(i)}, nil); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	for deadline := time.Now().Add(30 * time.Second); d.Paused() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the disk did not fill")
		}
	}
	return published
}

// onVolume opens a running spool on a volume of volume bytes (see
// volumeConfig).
func onVolume(t *testing.T, volume int64) (d *Disk, stop func(), path string, logged messages) {
	cfg, logged := volumeConfig(t, volume)
	d, stop = openRunning(t, cfg)
	return d, stop, cfg.Path, logged
}

// volumeConfig configures a spool on a volume of volume bytes: its free
// space is what the files in its folder leave (the diskFree hook), and no
// file may grow beyond it (RLIMIT_FSIZE, set until the test ends).
func volumeConfig(t *testing.T, volume int64) (DiskConfig, messages) {
	var size atomic.Int64
	size.Store(volume)
	cfg, logged, _ := adjustableVolume(t, &size)
	t.Cleanup(limitFileSize(t, volume))
	return cfg, logged
}

// kibBody is event i's body, of about 1 KiB.
func kibBody(i int) []byte {
	return append([]byte(fmt.Sprintf(`{"i":%d,"pad":"`, i)), append(bytes.Repeat([]byte("x"), 1000), `"}`...)...)
}
