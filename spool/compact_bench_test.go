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

// BenchmarkAppendDuringCompaction: how long an arriving event waits to be
// stored while the spool compacts a file whose live frames are about 28
// MB (20,000 pending events of about 1.4 KB, a handler down for a while),
// as more events arrive and are delivered. It reports the slowest append
// from Append to its sync (max-store-ms), and how many compactions ran.
func BenchmarkAppendDuringCompaction(b *testing.B) {
	body := []byte(`{"pad":"` + strings.Repeat("x", 1400) + `"}`)
	for range b.N {
		path := filepath.Join(b.TempDir(), "events.spool")
		d, err := OpenDisk(DiskConfig{Path: path, KeepCount: -1, CompactAfter: 8 << 20})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		for i := range 20000 { // pending throughout, under one key
			if err := d.Append(Event{ID: fmt.Sprint("p-", i), Key: "held", Body: body}, nil); err != nil {
				b.Fatal(err)
			}
		}
		held, err := d.Next(ctx) // the key stays busy: the rest stay pending
		if err != nil {
			b.Fatal(err)
		}
		stored := make(chan time.Duration, 100)
		var slowest time.Duration
		compactions := 0
		var size int64
		for i := 0; i < 30000; i += 100 { // arrive, are stored, delivered: garbage
			for j := i; j < i+100; j++ {
				at := time.Now()
				if err := d.Append(Event{ID: fmt.Sprint("a-", j), Key: fmt.Sprint("k", j), Body: body}, func(Event) { stored <- time.Since(at) }); err != nil {
					b.Fatal(err)
				}
			}
			for range 100 {
				slowest = max(slowest, <-stored)
				ev, err := d.Next(ctx)
				if err != nil {
					b.Fatal(err)
				}
				d.Ack(ev, nil)
			}
			if fi, err := os.Stat(path); err == nil {
				if fi.Size() < size {
					compactions++
				}
				size = fi.Size()
			}
		}
		d.Release(held)
		d.Close()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if compactions == 0 {
			b.Fatal("no compaction")
		}
		b.ReportMetric(float64(slowest.Microseconds())/1000, "max-store-ms")
		b.ReportMetric(float64(compactions), "compactions")
	}
}
