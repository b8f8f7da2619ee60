package spool

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzSpoolFile: whatever bytes follow a spool header, reading the file
// gives records or an error, never a panic; what List returns is what a
// read of the whole file says is there; and once Salvage has run, the
// file reads whole. Its mutated bytes almost never pass a batch's
// checksum, so they test the framing and the torn tail only:
// FuzzSpoolFrames seals its input to reach the decoders.
func FuzzSpoolFile(f *testing.F) {
	// A real file's batches as a seed.
	path := filepath.Join(f.TempDir(), "seed.spool")
	d, err := OpenDisk(DiskConfig{Path: path, CommitInterval: 1})
	if err != nil {
		f.Fatal(err)
	}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- d.Run(ctx) }()
	committed := make(chan struct{})
	d.Append(Event{ID: "seed-1", Key: "call:1", Body: []byte(`{"call_id":1}`)}, func(Event) { close(committed) })
	<-committed
	ev, err := d.Next(ctx)
	if err != nil {
		f.Fatal(err)
	}
	d.Tried(ev, []Attempt{{At: time.Unix(1700000000, 0), Status: 503, Duration: time.Millisecond}})
	d.Release(ev)
	d.Reject(Event{ID: "seed-2", Key: "call:2", Body: []byte("a.b.c"), JWT: true}, "bad signature", false)
	d.Close()
	cancel()
	if err := <-done; err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed[len(fileHeader):])
	f.Add([]byte("DPTB\x05\x00\x00\x00\x00\x00\x00\x00hello"))
	f.Fuzz(func(t *testing.T, rest []byte) {
		p := filepath.Join(t.TempDir(), "fuzz.spool")
		if err := os.WriteFile(p, append(append([]byte(nil), fileHeader...), rest...), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, s := range []State{Pending, Dead, Delivered} {
			recs, err := List(p, s)
			if err != nil {
				continue
			}
			for _, r := range recs {
				if r.State != s {
					t.Fatalf("List(%s) gave a %s record", s, r.State)
				}
			}
		}
		if _, err := Salvage(p); err != nil {
			return
		}
		for _, s := range []State{Pending, Dead, Delivered} {
			if _, err := List(p, s); err != nil {
				t.Fatalf("after Salvage, List(%s) = %v", s, err)
			}
		}
	})
}
