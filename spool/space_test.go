//go:build linux

package spool

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// limitFileSize makes this process's writes to any file beyond size bytes
// fail (EFBIG), as a full disk makes them fail (ENOSPC), until the
// returned function lifts the limit again. The tests of this package do
// not run in parallel, so no other test writes meanwhile.
func limitFileSize(t *testing.T, size int64) (lift func()) {
	t.Helper()
	var was syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &was); err != nil {
		t.Fatal(err)
	}
	limited := syscall.Rlimit{Cur: uint64(size), Max: was.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limited); err != nil {
		t.Fatal(err)
	}
	lifted := false
	lift = func() {
		if !lifted {
			lifted = true
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &was); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(lift)
	return lift
}

// TestDiskWaitsForSpace: a write that fails (the file may not grow, as on
// a full disk) does not stop the spool. It logs the failure and tries
// again; meanwhile events are still appended and handed out from memory.
// Once the file may grow, every event is stored, with its delivery.
func TestDiskWaitsForSpace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	logged := make(messages, 64)
	d, stop := openRunning(t, DiskConfig{Path: path, Logger: slog.New(logged)})
	appendSync(t, d, Event{ID: "a", Key: "ka", Body: []byte(`{"n":1}`)})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	lift := limitFileSize(t, fi.Size())
	stored := make(chan string, 2)
	for _, id := range []string{"b", "c"} {
		if err := d.Append(Event{ID: id, Key: "k" + id, Body: []byte(`{"id":"` + id + `"}`)}, func(ev Event) { stored <- ev.ID }); err != nil {
			t.Fatal(err)
		}
	}
	// The disk has room: the file size limit (as a quota would) is what
	// fails, and the warning does not claim the spool makes room itself.
	waitMessage(t, logged, "that the disk's free space does not show (a quota or a file size limit?)")
	msg := waitMessage(t, logged, "cannot write the file")
	if strings.Contains(msg, "queued_writes=0") { // the batch in hand counts
		t.Errorf("the first error counts no write waiting: %s", msg)
	}
	if d.Paused() <= 0 {
		t.Error("Paused() = 0 while the file cannot grow")
	}
	select {
	case id := <-stored:
		t.Fatalf("%s reported stored while the file could not grow", id)
	default:
	}
	// The disk is still full: events are handed out, delivered, acked.
	for _, want := range []string{"a", "b"} {
		ev := nextNow(t, d)
		if ev.ID != want || string(ev.Body) == "" {
			t.Fatalf("Next = %q (%d bytes), want %s with its body", ev.ID, len(ev.Body), want)
		}
		d.Ack(ev, []Attempt{{At: time.Now(), Status: 204}})
	}
	lift()
	for range 2 {
		select {
		case <-stored:
		case <-time.After(30 * time.Second):
			t.Fatal("appends not stored once the file could grow")
		}
	}
	waitMessage(t, logged, "writing again")
	stop()
	if p := d.Paused(); p != 0 {
		t.Errorf("Paused() = %s once writes went through", p)
	}

	if recs, err := List(path, Pending); err != nil || len(recs) != 1 || recs[0].ID != "c" {
		t.Fatalf("pending after the stall: %v (%v), want c alone", recs, err)
	}
	if recs, err := List(path, Delivered); err != nil || len(recs) != 2 {
		t.Fatalf("delivered after the stall: %v (%v), want a and b", recs, err)
	}
}

// TestDiskStopWaitingEndsTheWait: an agent stopping while the file cannot
// be written lets go at once: Run ends with the write's error, counting
// the events neither stored nor delivered, and refuses later writes, so
// nobody stays blocked on them.
func TestDiskStopWaitingEndsTheWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	logged := make(messages, 64)
	d, err := OpenDisk(DiskConfig{Path: path, Logger: slog.New(logged)})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	limitFileSize(t, fi.Size()+10) // room for part of a batch: a torn write
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background()) }()
	t.Cleanup(d.StopWaiting) // a test that failed early leaves no Run behind
	for _, id := range []string{"a", "b"} {
		if err := d.Append(Event{ID: id, Key: id, Body: []byte(`{}`)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitMessage(t, logged, "cannot write the file")
	d.StopWaiting()
	var werr error
	select {
	case werr = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run still waiting for space after StopWaiting")
	}
	var we *WriteError
	if !errors.As(werr, &we) || we.Unstored != 2 || !strings.Contains(werr.Error(), path) {
		t.Fatalf("Run = %v, want a WriteError naming %s with 2 unstored events", werr, path)
	}
	if err := d.Append(Event{ID: "c", Key: "c", Body: []byte(`{}`)}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after the failure = %v, want ErrClosed", err)
	}
	if after, err := os.Stat(path); err != nil || after.Size() != fi.Size() {
		t.Fatalf("file after giving up: %v (%v), want the %d bytes it had: the torn write cut off", after.Size(), err, fi.Size())
	}
}

// TestAdminWriteOnFullDiskChangesNothing: `events purge` and `events
// replay` on a disk that fills in the middle of their write fail with an
// error naming the file, and leave it as it was: no torn write for the
// next command or listen to cut, with a warning, and every record there.
func TestAdminWriteOnFullDiskChangesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path})
	for _, id := range []string{"a", "b"} {
		appendSync(t, d, Event{ID: id, Key: id, Body: []byte(`{"id":"` + id + `"}`)})
		d.Dead(nextNow(t, d), "refused", nil)
	}
	stop()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	lift := limitFileSize(t, fi.Size()+10) // room for part of the write
	_, purgeErr := Purge(path, Dead)
	_, replayErr := Replay(path, Selection{Dead: true})
	lift()
	for _, err := range []error{purgeErr, replayErr} {
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "nothing was changed") || !noSpace(err) {
			t.Errorf("got %v, want a want of space naming %s, and nothing changed", err, path)
		}
	}
	if after, err := os.Stat(path); err != nil || after.Size() != fi.Size() {
		t.Fatalf("file after the failed writes: %d bytes (%v), want the %d it had", after.Size(), err, fi.Size())
	}
	recs, tail, err := Records(path, Dead)
	if err != nil || len(recs) != 2 || tail.Bytes != 0 {
		t.Fatalf("Records = %d dead, %d bytes of tail (%v), want both dead letters and no tail", len(recs), tail.Bytes, err)
	}
}

// TestFullDiskDropsCompaction: a compaction under way when the disk fills
// is dropped, and its file removed, as it holds space and could not finish
// before the failing write does; once writes go through again the spool
// holds every record, and compacts afresh later.
func TestFullDiskDropsCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	gate := make(chan struct{})
	logged := make(messages, 1024)
	d, stop := openRunning(t, DiskConfig{Path: path, KeepCount: 5, CompactAfter: 4 << 10, compactGate: gate, Logger: slog.New(logged)})
	fill(t, d, 0, 1)
	held := nextNow(t, d)
	holdCompaction(t, d, gate, 1) // garbage until a compaction copies, and holds
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	lift := limitFileSize(t, fi.Size())
	if err := d.Append(Event{ID: "x", Key: "kx", Body: []byte(`{"x":1}`)}, nil); err != nil {
		t.Fatal(err)
	}
	if msg := waitMessage(t, logged, "cannot write the file"); !strings.Contains(msg, "a compaction under way was dropped") {
		t.Errorf("the first error does not say the compaction was dropped: %s", msg)
	}
	if _, err := os.Stat(path + compactSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("compaction file while the disk is full: %v, want it removed", err)
	}
	lift()
	waitMessage(t, logged, "writing again")
	d.Release(held)
	stop()
	if pending := mustList(t, path, Pending); ids(pending) != "id-0 x" {
		t.Fatalf("pending after the stall: %q, want id-0 and x", ids(pending))
	}
}

// TestLiveAdminOnFullDisk: a running spool whose writes fail for want of
// space refuses a replay and a purge at once, naming the file and saying
// nothing was changed, where they used to wait for space until the
// asking command gave up. Once space is back, both work again.
func TestLiveAdminOnFullDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	logged := make(messages, 64)
	d, stop := openRunning(t, DiskConfig{Path: path, Logger: slog.New(logged)})
	defer stop()
	appendSync(t, d, Event{ID: "a", Key: "ka", Body: []byte(`{"id":"a"}`)})
	d.Dead(nextNow(t, d), "400 Bad Request (not retried)", nil)
	appendSync(t, d, Event{ID: "b", Key: "kb", Body: []byte(`{"id":"b"}`)}) // the dead letter is on disk too
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	lift := limitFileSize(t, fi.Size())
	stored := make(chan struct{})
	if err := d.Append(Event{ID: "c", Key: "kc", Body: []byte(`{"id":"c"}`)}, func(Event) { close(stored) }); err != nil {
		t.Fatal(err)
	}
	waitMessage(t, logged, "cannot write the file")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, replayErr := d.ReplayLive(ctx, Selection{Dead: true})
	_, purgeErr := d.PurgeLive(ctx, Dead)
	for _, err := range []error{replayErr, purgeErr} {
		if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "nothing was changed") {
			t.Errorf("got %v, want ErrNoSpace naming %s, and nothing changed", err, path)
		}
	}
	lift()
	<-stored
	if res, err := d.ReplayLive(ctx, Selection{Dead: true}); err != nil || res.N != 1 {
		t.Fatalf("ReplayLive once space is back = %+v, %v; want the dead letter replayed", res, err)
	}
}

// TestLiveReplayFillsDisk: a replay asked of an idle running spool whose
// disk has filled (nothing has failed yet) does not wait for space: once
// its own write fails, it says the replay is queued and carried out once
// space is back; and so it is. (The asking command used to wait 30 s and
// then say "no answer".)
func TestLiveReplayFillsDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path})
	defer stop()
	appendSync(t, d, Event{ID: "a", Key: "ka", Body: []byte(`{"id":"a"}`)})
	d.Dead(nextNow(t, d), "400 Bad Request (not retried)", nil)
	appendSync(t, d, Event{ID: "b", Key: "kb", Body: []byte(`{"id":"b"}`)}) // the dead letter is on disk
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	lift := limitFileSize(t, fi.Size())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = d.ReplayLive(ctx, Selection{Dead: true})
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "it is queued, and is carried out once space is back") {
		t.Fatalf("ReplayLive on a disk that fills = %v, want ErrNoSpace saying the replay is queued", err)
	}
	lift()
	if ev := nextNow(t, d); ev.ID != "b" {
		t.Fatalf("Next = %s, want b, waiting before the replay", ev.ID)
	}
	if ev := nextNow(t, d); ev.ID != "a" { // handed out once its write went through
		t.Fatalf("Next = %s, want a, replayed once space is back", ev.ID)
	}
}
