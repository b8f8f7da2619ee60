//go:build linux

package spool

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// adjustableVolume configures a spool on a volume whose size the test
// changes as it goes: its free space is what the files in its folder
// leave of *size (the diskFree hook). Writes never fail: only the free
// space the spool looks at is small.
func adjustableVolume(t *testing.T, size *atomic.Int64) (DiskConfig, messages, func() int64) {
	dir := t.TempDir()
	used := func() int64 {
		var sum int64
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
				sum += fi.Size()
			}
		}
		return sum
	}
	logged := make(messages, 1<<16)
	cfg := DiskConfig{Path: filepath.Join(dir, "events.spool"), KeepCount: 5, CacheBytes: 32 << 10, Logger: slog.New(logged),
		diskFree: func(string) (int64, bool) { return max(size.Load()-used(), 0), true }}
	return cfg, logged, used
}

// onRoomyVolume opens a running spool on an adjustableVolume of 1 GiB,
// which the test shrinks as it goes (size); it stops as the test ends.
func onRoomyVolume(t *testing.T) (d *Disk, size *atomic.Int64, used func() int64, logged messages) {
	size = new(atomic.Int64)
	size.Store(1 << 30)
	cfg, logged, used := adjustableVolume(t, size)
	d, _ = openRunning(t, cfg)
	return d, size, used, logged
}

// onRun calls f on Run's goroutine, once every write queued before is on
// disk: it may read and change what Run owns.
func onRun(t *testing.T, d *Disk, f func()) {
	t.Helper()
	done := make(chan struct{})
	if err := d.send(op{kind: opBarrier, committed: func(Event) { f(); close(done) }}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("no barrier in 30 s")
	}
}

// deadBytes is Disk.dead once every write queued before is on disk.
func deadBytes(t *testing.T, d *Disk) (dead int64) {
	t.Helper()
	onRun(t, d, func() { dead = d.dead })
	return dead
}

// TestLeavingShortLeavesRoomWithDeadLetters: with more dead letters than
// 3 × spaceMargin on disk, the spool goes short of space, then space is
// freed a little at a time. Once it says `writing again`, some more new
// events (here 100 KiB, less than the 3 × spaceMargin of slack endShort
// keeps without dead letters) must be written without going short of space
// again: else it flaps in and out of the state, with a warning, the reserve
// made and removed, each time.
func TestLeavingShortLeavesRoomWithDeadLetters(t *testing.T) {
	d, size, used, logged := onRoomyVolume(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	deadLetters(ctx, t, d, 0, 400)
	dead := deadBytes(t, d)
	if dead < 3*spaceMargin+32<<10 {
		t.Fatalf("setup: %d bytes of dead letters, want more than 3 × spaceMargin", dead)
	}
	// No room beside the dead letters' copy: the next event goes short.
	shortBesideDead(t, d, size, used, dead)
	ev, err := d.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d.Ack(ev, nil) // held in memory: delivered, nothing left held
	// Space comes back a little at a time.
	for step := 0; d.Paused() > 0; step++ {
		if step > 40 {
			t.Fatal("still short of space with 1.25 MiB more room")
		}
		size.Add(32 << 10)
		for deadline := time.Now().Add(1500 * time.Millisecond); d.Paused() > 0 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		}
	}
	waitMessage(t, logged, "spool: writing again")
	// Writing again: 100 new events of 1 KiB must not put it back.
	stored := make(chan struct{}, 100)
	for i := range 100 {
		if err := d.Append(Event{ID: fmt.Sprint("new", i), Key: fmt.Sprint("k", i%20), Body: kibBody(i)}, func(Event) { stored <- struct{}{} }); err != nil {
			t.Fatal(err)
		}
	}
	for n := 0; n < 100; {
		select {
		case <-stored:
			n++
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of 100 new events stored in 5 s", n)
		}
	}
	for len(logged) > 0 {
		if msg := <-logged; strings.Contains(msg, "the disk is short of space") {
			t.Fatalf("short of space again within 100 KiB of new events, right after writing again: %d bytes of dead letters left no slack: %s", dead, msg)
		}
	}
}

// TestWritingAgainKeepsTheDeadLettersRoom: as the spool leaves the short
// of space state it makes its reserve again, after it looked at the free
// space. The new events written next must still leave spaceMargin and
// room for a copy of the dead letters free (commit's room): with the
// reserve's 256 KiB not seen, they took that room.
func TestWritingAgainKeepsTheDeadLettersRoom(t *testing.T) {
	d, size, used, _ := onRoomyVolume(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	deadLetters(ctx, t, d, 0, 400)
	dead := deadBytes(t, d)
	shortBesideDead(t, d, size, used, dead)
	size.Add(4 * spaceMargin) // room to leave the state, however it is counted
	ev, err := d.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d.Ack(ev, nil)
	for deadline := time.Now().Add(10 * time.Second); d.Paused() > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("still short of space")
		}
	}
	// 300 new events: each is written only while it leaves the room.
	for i := range 300 {
		if err := d.Append(Event{ID: fmt.Sprint("new", i), Key: fmt.Sprint("k", i%20), Body: kibBody(i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var free, deadNow int64
	var short bool
	for deadline := time.Now().Add(10 * time.Second); ; {
		onRun(t, d, func() { free, short, deadNow = size.Load()-used(), d.short, d.dead })
		if short || d.Stored() >= 300 || time.Now().After(deadline) {
			break
		}
	}
	if short {
		free -= reserveBytes // released as it went short: not the new events' room
	}
	if free < spaceMargin+deadNow {
		t.Errorf("%d bytes free (but the reserve; short of space again: %v), less than spaceMargin and the %d bytes of dead letters: new events took the room of their copy", free, short, deadNow)
	}
}

// TestStuckShortLeavesOnlyWithRoomForHeld: short of space, with new
// events held in memory that do not fit (the writer waits, stuck), and
// space freed a little at a time. The spool must leave the state only
// once the events it holds fit: it used to look for room for none of
// them, said `writing again`, then went short of space again at the next
// batch, every second (the reserve made and removed each time).
func TestStuckShortLeavesOnlyWithRoomForHeld(t *testing.T) {
	const pending, held = 400, 200
	d, size, used, logged := onRoomyVolume(t)
	for i := range pending { // stored, not delivered
		if err := d.Append(Event{ID: fmt.Sprint(i), Key: fmt.Sprint("k", i%20), Body: kibBody(i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); d.Stored() < pending; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not stored")
		}
	}
	size.Store(used() - reserveBytes) // no room at all, even with the reserve released
	onRun(t, d, func() { d.freeLooked = false })
	stored := make(chan struct{}, held)
	for i := range held {
		if err := d.Append(Event{ID: fmt.Sprint("new", i), Key: fmt.Sprint("k", i%20), Body: kibBody(i)}, func(Event) { stored <- struct{}{} }); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); d.heldN.Load() < held; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d events held, want %d", d.heldN.Load(), held)
		}
	}
	// Space comes back, 32 KiB at a time, from the reserve and 4 ×
	// spaceMargin less 16 KiB (what leaving asks for with nothing held).
	size.Add(reserveBytes + 4*spaceMargin - 16<<10)
	left := false
	for step := 0; !left; step++ {
		if step > 40 {
			t.Fatal("still short of space with 1.25 MiB more room")
		}
		size.Add(32 << 10)
		timer := time.NewTimer(1500 * time.Millisecond)
	wait:
		for {
			select {
			case msg := <-logged:
				if strings.Contains(msg, "spool: writing again") {
					left = true
					break wait
				}
			case <-timer.C:
				break wait
			}
		}
		timer.Stop()
	}
	for n := 0; n < held; {
		select {
		case <-stored:
			n++
		case msg := <-logged:
			if strings.Contains(msg, "the disk is short of space") {
				t.Fatalf("short of space again right after writing again, with %d of %d held events stored: it left the state without room for them: %s", n, held, msg)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d held events stored in 5 s after writing again", n, held)
		}
	}
}

// TestDeadCountMatchesReopen: Disk.dead, kept by Run through dead letters
// early and late, attempts, refusals, compactions, a live replay and a
// live purge, is what a fresh open of the file counts.
func TestDeadCountMatchesReopen(t *testing.T) {
	cfg := DiskConfig{Path: filepath.Join(t.TempDir(), "events.spool"), KeepCount: 5, CompactAfter: 4 << 10}
	d, stop := openRunning(t, cfg)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	finish := func(from, to int) {
		for i := from; i < to; i++ {
			if err := d.Append(Event{ID: fmt.Sprint(i), Key: fmt.Sprint("k", i%7), Body: kibBody(i)}, nil); err != nil {
				t.Fatal(err)
			}
		}
		for i := from; i < to; i++ {
			ev, err := d.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var n int
			fmt.Sscan(ev.ID, &n)
			switch n % 3 {
			case 0:
				a := []Attempt{{At: time.Now(), Status: 500}}
				d.Tried(ev, a)
				onRun(t, d, func() {}) // the attempts written first
				d.Dead(ev, "500", a)
			case 1:
				d.Dead(ev, "400", nil)
			default:
				d.Ack(ev, nil)
			}
		}
	}
	finish(0, 60)
	if err := d.Reject(Event{ID: "forged", Key: "k", Body: []byte(`{"x":1}`)}, "bad signature", false); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReplayLive(ctx, Selection{IDs: []string{"3", "4", "6", "7"}}); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		ev, err := d.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.ID == "3" || ev.ID == "4" {
			d.Dead(ev, "400 again", nil)
		} else {
			d.Ack(ev, nil)
		}
	}
	finish(60, 90)
	if _, err := d.PurgeLive(ctx, Delivered); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReplayLive(ctx, Selection{IDs: []string{"9"}}); err != nil {
		t.Fatal(err)
	}
	running := deadBytes(t, d)
	stop()
	again, err := OpenDisk(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.dead != running {
		t.Errorf("Disk.dead %d while running, %d read from the file", running, again.dead)
	}
	if running == 0 {
		t.Error("no dead letters counted")
	}
}

// TestShortWritesAYoungEventSoon: short of space with room for a few new
// events (not for leaving the state), an event that comes alone is
// written once it is CommitInterval old, not held in memory (lost to a
// crash) until the writer next looks at the disk, a second later: a
// batch carried back whole because it was young is not stuck.
func TestShortWritesAYoungEventSoon(t *testing.T) {
	d, size, used, _ := onRoomyVolume(t)
	onRun(t, d, func() {})            // the reserve made
	size.Store(used() - reserveBytes) // no room, even with the reserve released
	onRun(t, d, func() { d.freeLooked = false })
	stored := make(chan struct{}, 1)
	if err := d.Append(Event{ID: "first", Key: "k", Body: kibBody(0)}, func(Event) { stored <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); d.Paused() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not short of space")
		}
	}
	size.Add(200 << 10) // room for some, not for the reserve again
	select {
	case <-stored:
	case <-time.After(10 * time.Second):
		var free int64
		var short bool
		onRun(t, d, func() { free, _ = d.room(); short = d.short })
		t.Fatalf("the first event not stored in 10 s, short %v, free %d, held %d", short, free, d.heldN.Load())
	}
	// Held until the next look, an event waits at least look from its
	// Append (the wait starts after the writer has carried it back), so
	// each event written in less proves it was not, however slow the
	// machine is otherwise (a commit takes milliseconds, CommitInterval
	// is 1 ms).
	const look = time.Second // Run's look at the disk while short of space (commit.go)
	var took [5]time.Duration
	for i := range took {
		start := time.Now()
		if err := d.Append(Event{ID: fmt.Sprint(i), Key: "k", Body: kibBody(i)}, func(Event) { stored <- struct{}{} }); err != nil {
			t.Fatal(err)
		}
		<-stored
		took[i] = time.Since(start)
	}
	if d.Paused() == 0 {
		t.Fatal("setup: no longer short of space")
	}
	for i, took := range took {
		if took >= look {
			t.Errorf("event %d of 5, appended one at a time, took %v to be written: held until the writer next looked at the disk (every %v), not written once CommitInterval (%v) old",
				i, took, look, time.Millisecond)
		}
	}
}

// deadLetters appends n events (numbered from from) and gives up on each
// as it is handed out: dead letters, written as such.
func deadLetters(ctx context.Context, t *testing.T, d *Disk, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := d.Append(Event{ID: fmt.Sprint(i), Key: fmt.Sprint("k", i%20), Body: kibBody(i)}, nil); err != nil {
			t.Fatal(err)
		}
		ev, err := d.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d.Dead(ev, "400", nil)
	}
}

// shortBesideDead leaves the volume no room beside the dead letters' copy
// (dead bytes) and spaceMargin, and appends an event ("first"), which puts
// the spool short of space; it returns once it is.
func shortBesideDead(t *testing.T, d *Disk, size *atomic.Int64, used func() int64, dead int64) {
	t.Helper()
	size.Store(used() + spaceMargin + dead)
	onRun(t, d, func() { d.freeLooked = false }) // looked at afresh
	if err := d.Append(Event{ID: "first", Key: "k0", Body: kibBody(0)}, nil); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); d.Paused() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not short of space")
		}
	}
}
