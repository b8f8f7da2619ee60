//go:build linux

package spool

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestUnkeptHistoryDoesNotGoShort: an event delivered before its append
// was written, too large for the room left for the delivered history, is
// not kept (see commit). That is all: the disk still has room for new
// events, so the spool must not go short of space (a warning, the reserve
// released, the history given up, replays refused). It did: the record
// that was not kept counted as a new event that did not fit.
func TestUnkeptHistoryDoesNotGoShort(t *testing.T) {
	var size atomic.Int64
	size.Store(1 << 30)
	cfg, logged, used := adjustableVolume(t, &size)
	cfg.CommitInterval = 200 * time.Millisecond // the ack comes before the append is written
	cfg.CacheBytes = 1 << 20                    // and the event is handed out from memory
	d, stop := openRunning(t, cfg)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// 48 KiB of room for new events beside the margin kept for outcomes
	// (and the reserve, made as Run starts).
	onRun(t, d, func() {
		size.Store(used() + spaceMargin + 48<<10)
		d.freeLooked = false
	})
	big := []byte(fmt.Sprintf(`{"pad":"%s"}`, strings.Repeat("x", 100<<10)))
	if err := d.Append(Event{ID: "big", Key: "k0", Body: big}, nil); err != nil {
		t.Fatal(err)
	}
	ev, err := d.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d.Ack(ev, nil)
	stored := make(chan struct{})
	if err := d.Append(Event{ID: "small", Key: "k1", Body: kibBody(1)}, func(Event) { close(stored) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stored:
	case <-ctx.Done():
		t.Fatal("the small event was not stored")
	}
	if p := d.Paused(); p > 0 {
		t.Errorf("short of space for %s after a delivered event too large for the history, with 48 KiB of room", p)
	}
	for len(logged) > 0 {
		if msg := <-logged; strings.Contains(msg, "short of space") {
			t.Errorf("logged: %s", msg)
		}
	}
}

// TestWriteFailedCountsRejectedFrames: a frame refused on arrival is
// stored straight among the dead letters (Reject returned nil: the agent
// counts it as kept). If the write fails, it is lost with the events
// beside it, and must be counted with them in WriteError.Unstored.
func TestWriteFailedCountsRejectedFrames(t *testing.T) {
	cfg, _ := volumeConfig(t, 4<<20)
	d, err := OpenDisk(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.closeFile()
	batch := []op{
		{kind: opAppend, ev: Event{Seq: 1}},
		{kind: opReject, ev: Event{Seq: 2}},
		{kind: opDOA, ev: Event{Seq: 3}},
	}
	var werr *WriteError
	if !errors.As(d.writeFailed(errors.New("disk full"), batch), &werr) {
		t.Fatal("not a WriteError")
	}
	if werr.Unstored != 3 {
		t.Errorf("Unstored = %d, want 3: an event and two frames refused on arrival were not written", werr.Unstored)
	}
}

// TestNoRoomSaysHowLongWritesFailed: short of space for an hour (new
// events held in memory), then a write that fails for 5 s: a refused
// replay must say its writes have failed for 5 s, not for the hour the
// spool has been short of space.
func TestNoRoomSaysHowLongWritesFailed(t *testing.T) {
	cfg, _ := volumeConfig(t, 4<<20)
	d, err := OpenDisk(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.closeFile()
	now := time.Now()
	d.pausedAt.Store(now.Add(-time.Hour).UnixNano())
	d.failingAt.Store(now.Add(-5 * time.Second).UnixNano())
	err = d.noRoom("replay", whileShort)
	if err == nil || !strings.Contains(err.Error(), "failed for 5s") {
		t.Errorf("noRoom: %v; want the 5s the writes have failed", err)
	}
}
