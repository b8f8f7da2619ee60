//go:build linux

package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestDeadLettersKeepRoomForTheirCopy: dead letters gathered over time
// (more than the reserve and the margin for outcomes), then the handler
// down until the backlog fills the volume, then back. Once the backlog is
// delivered the spool must compact and leave the short of space state. It
// used to write new events until only the margin was free, so once the
// backlog was delivered the dead letters alone were more than a
// compaction's copy had room for: short of space for good, every new
// event held in memory (found by a kill loop on a 3 MiB tmpfs).
func TestDeadLettersKeepRoomForTheirCopy(t *testing.T) {
	const (
		volume = 2 << 20
		deadN  = 400 // about 450 KiB of dead letters
		n      = 3000
	)
	d, stop, path, _ := onVolume(t, volume)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	deadLetters(ctx, t, d, 0, deadN)
	if err := d.barrier(ctx, nil, whileShort); err != nil {
		t.Fatal(err)
	}
	var deadBytes int
	for _, r := range mustList(t, path, Dead) {
		deadBytes += len(r.Body)
	}
	if deadBytes < reserveBytes+spaceMargin {
		t.Fatalf("setup: %d bytes of dead letters, want more than the reserve and margin (%d)", deadBytes, reserveBytes+spaceMargin)
	}

	// The handler is down: the backlog fills the volume.
	published := publishShort(t, d, deadN, n, 20)

	// Back: every event is delivered.
	finishAll(ctx, t, d, n, func(int) bool { return false })
	if err := <-published; err != nil {
		t.Fatalf("Append: %v", err)
	}
	for deadline := time.Now().Add(30 * time.Second); d.Paused() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still short of space 30 s after the backlog was delivered (file %d bytes): the dead letters left no room to compact it", fileSize(t, path))
		}
	}
	stop()
	if dead := mustList(t, path, Dead); len(dead) != deadN {
		t.Errorf("%d dead letters kept, want %d", len(dead), deadN)
	}
	if pending := mustList(t, path, Pending); len(pending) != 0 {
		t.Errorf("%d events pending after all were delivered, want none", len(pending))
	}
}

// TestPurgeWhileShortOfSpace: the backlog fills the volume, then a third
// of it turns out dead letters, more than a compaction's copy has room
// for beside the reserve: the spool says only a purge (or space) ends
// the state, and a live purge of the dead letters (which it used to
// refuse while short of space) makes the room, and the spool leaves that
// state by itself.
func TestPurgeWhileShortOfSpace(t *testing.T) {
	const n = 3000
	d, stop, path, _, published, logged := fillShort(t, 2<<20, n, 20)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	finishAll(ctx, t, d, n, func(i int) bool { return i%3 == 0 })
	if err := <-published; err != nil {
		t.Fatalf("Append: %v", err)
	}
	msg := waitMessage(t, logged, "short of space until dead letters are purged")
	if !strings.Contains(msg, "events purge --dead") || !strings.Contains(msg, path) {
		t.Errorf("the warning does not name the file and the command: %s", msg)
	}
	if d.Paused() == 0 {
		t.Fatal("not short of space with the dead letters kept")
	}
	// A replay needs room: refused at once, pointing at the purge.
	if _, err := d.ReplayLive(ctx, Selection{Dead: true}); !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "short of space for") || !strings.Contains(err.Error(), "events purge --dead") {
		t.Errorf("ReplayLive while short of space: %v; want ErrNoSpace, saying so and pointing at events purge --dead", err)
	}
	purged, err := d.PurgeLive(ctx, Dead)
	if err != nil {
		t.Fatalf("PurgeLive while short of space: %v", err)
	}
	for deadline := time.Now().Add(30 * time.Second); d.Paused() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still short of space 30 s after the dead letters were purged (file %d bytes)", fileSize(t, path))
		}
	}
	stop()
	// The dead letters held in memory, for want of room, go with those
	// written: one purge takes every dead letter there was. (They used to
	// be written once the purge made room, and to fill it again.)
	if kept := len(mustList(t, path, Dead)); purged[0] != n/3 || kept != 0 {
		t.Errorf("%d dead letters purged and %d kept, want all %d purged", purged[0], kept, n/3)
	}
	if pending := mustList(t, path, Pending); len(pending) != 0 {
		t.Errorf("%d events pending after all finished, want none", len(pending))
	}
}

// finishAll delivers n events from d with four workers, giving up on
// those dead says (by the number in their ID) and acknowledging the rest.
func finishAll(ctx context.Context, t *testing.T, d *Disk, n int, dead func(int) bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	finished := 0
	var workers sync.WaitGroup
	for range 4 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for {
				ev, err := d.Next(ctx)
				if err != nil {
					return
				}
				var i int
				fmt.Sscan(ev.ID, &i)
				if dead(i) {
					d.Dead(ev, "400", nil)
				} else {
					d.Ack(ev, nil)
				}
				mu.Lock()
				finished++
				if finished == n {
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	workers.Wait()
	if finished != n {
		t.Fatalf("%d of %d events finished in a minute after the handler came back (paused %v)", finished, n, d.Paused())
	}
}

// fileSize is the size of the file at path, or -1 if it cannot be read.
func fileSize(t *testing.T, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// TestStopWhileStuckShortOfSpace: short of space with dead letters that
// leave no room (see TestPurgeWhileShortOfSpace) and held events that
// cannot be written, a stop still ends Run at once. The writer used to
// loop on the held events, every commit interval, and under -race a
// commit outlasted the interval, so it never looked at the stop: Run
// never returned (a test run hung for 10 minutes).
func TestStopWhileStuckShortOfSpace(t *testing.T) {
	const n = 3000
	cfg, logged := volumeConfig(t, 2<<20)
	d, stop := openRunningLost(t, cfg)
	published := publishShort(t, d, 0, n, 20)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	finishAll(ctx, t, d, n, func(i int) bool { return i%3 == 0 })
	if err := <-published; err != nil {
		t.Fatalf("Append: %v", err)
	}
	waitMessage(t, logged, "short of space until dead letters are purged")
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	select {
	case err := <-stopped:
		// The dead letters held in memory do not fit: the stop says so
		// (listen counts them as not stored).
		var werr *WriteError
		if err != nil && (!errors.As(err, &werr) || !noSpace(err)) {
			t.Errorf("Run: %v, want nil or a write error for want of space", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30 s of the stop")
	}
}

// TestLargeWriteOnFullDiskNotBlamedOnQuota: a write larger than the room
// left on a full disk fails; the warning is the full disk's, not the
// quota's. The free space was looked at after the reserve was released,
// so the reserve's room, more than spaceMargin, made it "a limit the
// disk's free space does not show" (a replay's write, in a kill loop).
func TestLargeWriteOnFullDiskNotBlamedOnQuota(t *testing.T) {
	const volume = 2 << 20
	cfg, logged := volumeConfig(t, volume)
	d, err := OpenDisk(cfg) // not running: beginShort is called here, as the writer would
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.closeFile)
	d.makeReserve()
	// The failed write filled the disk beside the reserve.
	if err := os.WriteFile(filepath.Join(filepath.Dir(cfg.Path), "other"), make([]byte, volume-reserveBytes-fileSize(t, cfg.Path)), 0o600); err != nil {
		t.Fatal(err)
	}
	d.buf = make([]byte, 300<<10) // the batch that failed
	d.beginShort(&os.PathError{Op: "write", Path: cfg.Path, Err: syscall.ENOSPC})
	msg := waitMessage(t, logged, "spool: ")
	if !strings.Contains(msg, "the disk is short of space") {
		t.Errorf("a write larger than the room left: %s; want the full disk's warning", msg)
	}
}

// TestLiveReplayRefusedWithoutRoom: a live replay larger than the room
// left is refused at once, saying what it needs and what to do, and
// nothing changes. It used to be queued: its write failed, and was tried
// again, holding up every write behind it until space came back, which
// on a disk filled by the spool's own garbage it never did (a kill loop
// with replays on a 3 MiB tmpfs: the final replay of 40 dead letters
// never went through).
func TestLiveReplayRefusedWithoutRoom(t *testing.T) {
	cfg, _ := volumeConfig(t, 3<<20)
	cfg.KeepCount = 100
	d, stop := openRunning(t, cfg)
	defer stop()
	big := bytes.Repeat([]byte("x"), 300<<10)
	for i := range 8 {
		appendSync(t, d, Event{ID: fmt.Sprint(i), Key: fmt.Sprint("k", i), Body: big})
		d.Ack(nextNow(t, d), nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := d.ReplayLive(ctx, Selection{Since: time.Now().Add(-time.Hour)})
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "nothing was changed") || !strings.Contains(err.Error(), "events purge") {
		t.Fatalf("ReplayLive of 2.4 MB with about 0.3 MB free: %v; want ErrNoSpace, saying nothing changed and what to do", err)
	}
	if d.Paused() > 0 {
		t.Error("short of space after a refused replay")
	}
	appendSync(t, d, Event{ID: "after", Key: "k-after", Body: []byte(`{"after":1}`)}) // writes go on
	if res, err := d.ReplayLive(ctx, Selection{IDs: []string{"0"}}); err != nil || res.N != 1 {
		t.Errorf("ReplayLive of one event that fits: %+v, %v", res, err)
	}
}

// TestPurgeAtStopTakesHeldDeadLetters: a live purge of the dead letters
// that reaches the writer only in its final flush, as the listen stops,
// takes those held in memory too, as one taken earlier does. The flush
// used to write them (or, with no room for them, count them as accepted
// events lost) and the purge said it took only those written: dead
// letters the user had purged were there again at the next start.
func TestPurgeAtStopTakesHeldDeadLetters(t *testing.T) {
	const n = 3000
	cfg, logged := volumeConfig(t, 2<<20)
	cfg.CommitInterval = time.Millisecond
	d, err := OpenDisk(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	ran := make(chan error, 1)
	go func() { ran <- d.Run(runCtx) }()
	published := publishShort(t, d, 0, n, 20)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	finishAll(ctx, t, d, n, func(i int) bool { return i%3 == 0 })
	if err := <-published; err != nil {
		t.Fatalf("Append: %v", err)
	}
	waitMessage(t, logged, "short of space until dead letters are purged")

	// Run is held in a commit's callbacks while the purge is queued and
	// the stop asked for: it finds the purge in its final flush.
	hold, held := make(chan struct{}), make(chan struct{})
	if err := d.send(op{kind: opBarrier, committed: func(Event) { close(held); <-hold }}); err != nil {
		t.Fatal(err)
	}
	<-held
	if d.heldN.Load() == 0 {
		t.Fatal("setup: no event held in memory")
	}
	var seqs []uint64
	d.fileMu.Lock()
	for seq, p := range d.places {
		if p.state() == Dead {
			seqs = append(seqs, seq)
		}
	}
	d.fileMu.Unlock()
	a := &adminOp{purge: seqs, dead: true}
	purged := make(chan struct{})
	if err := d.send(op{kind: opPurge, admin: a, committed: func(Event) { close(purged) }}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	stopRun()
	close(hold)
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
	select {
	case <-purged:
	default:
		t.Fatal("the purge was not committed at the stop")
	}
	if got := len(seqs) + a.held; got != n/3 {
		t.Errorf("the purge took %d dead letters (%d written, %d held), want all %d", got, len(seqs), a.held, n/3)
	}
	if kept := len(mustList(t, cfg.Path, Dead)); kept != 0 {
		t.Errorf("%d dead letters kept after the purge, want none", kept)
	}
}
