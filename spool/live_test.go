package spool

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestReplayLive: a running spool puts dead and delivered records back as
// pending when asked, as Replay does to a file no agent holds: each is
// handed out again with its delivery id, body and attempt history, after
// the events already waiting; a frame refused on arrival is counted, not
// replayed; an unknown id is refused; a restart finds the outcome.
func TestReplayLive(t *testing.T) {
	path := t.TempDir() + "/events.spool"
	d, stop := openRunning(t, DiskConfig{Path: path, CacheBytes: 1})
	ctx := context.Background()
	fill(t, d, 0, 3)
	dead := nextNow(t, d)
	d.Dead(dead, "400 Bad Request (not retried)", []Attempt{{At: time.Now(), Status: 400}})
	delivered := nextNow(t, d)
	d.Ack(delivered, []Attempt{{At: time.Now(), Status: 204}})
	held := nextNow(t, d) // id-2, pending
	d.Reject(Event{ID: "forged", Key: "k9", Body: []byte(`{}`)}, "bad signature", false)

	res, err := d.ReplayLive(ctx, Selection{Dead: true})
	if err != nil || res.N != 1 || res.Refused != 1 {
		t.Fatalf("ReplayLive(dead) = %+v, %v; want 1 replayed, 1 refused", res, err)
	}
	fill(t, d, 3, 1) // arrives after the replay: handed out after it
	ev := nextNow(t, d)
	if ev.ID != "id-0" || string(ev.Body) != `{"n":0}` || ev.Replayed.IsZero() || len(ev.Tried) != 0 {
		t.Fatalf("after the replay Next = %s %q (replayed %v, tried %+v), want id-0 with its body, a fresh start", ev.ID, ev.Body, ev.Replayed, ev.Tried)
	}
	d.Ack(ev, []Attempt{{At: time.Now(), Status: 204}})
	if ev := nextNow(t, d); ev.ID != "id-3" {
		t.Fatalf("Next = %s, want id-3, which arrived after the replay", ev.ID)
	} else {
		d.Ack(ev, nil)
	}
	if res, err := d.ReplayLive(ctx, Selection{IDs: []string{"id-1"}}); err != nil || res.N != 1 {
		t.Fatalf("ReplayLive(id-1, delivered) = %+v, %v", res, err)
	}
	if ev := nextNow(t, d); ev.ID != "id-1" || string(ev.Body) != `{"n":1}` {
		t.Fatalf("Next = %s %q, want id-1 again", ev.ID, ev.Body)
	} else {
		d.Release(ev)
	}
	if _, err := d.ReplayLive(ctx, Selection{IDs: []string{"nosuchid-1"}}); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "among the pending, dead and delivered events") {
		t.Fatalf("ReplayLive of an unknown id = %v, want ErrNotFound", err)
	}
	// held (id-2) is pending: it is named as such, not "no such event".
	if _, err := d.ReplayLive(ctx, Selection{IDs: []string{"ID-2"}}); err == nil || !strings.Contains(err.Error(), "event id-2 is still pending") {
		t.Fatalf("ReplayLive of a pending id = %v, want it named as pending", err)
	}
	d.Release(held)
	stop()
	if pending := mustList(t, path, Pending); ids(pending) != "id-2 id-1" {
		t.Fatalf("pending after the run: %q, want id-2, then id-1 (replayed, with a new seq)", ids(pending))
	}
	done := mustList(t, path, Delivered)
	if ids(done) != "id-0 id-3" { // by seq: id-0's new one comes before id-3's
		t.Fatalf("delivered after the run: %q, want id-0 (replayed, then delivered) and id-3", ids(done))
	}
	if a := done[0].Attempts; len(a) != 2 || a[0].Status != 400 || a[1].Status != 204 || done[0].Replays != 1 {
		t.Fatalf("id-0's history %+v (%d replays), want its 400, then its 204 after one replay", a, done[0].Replays)
	}
}

// TestPurgeLive: a running spool forgets its dead letters, or its
// delivered history, when asked, counting them; the history kept after
// that still holds KeepCount of the later deliveries; a restart finds
// the same.
func TestPurgeLive(t *testing.T) {
	path := t.TempDir() + "/events.spool"
	d, stop := openRunning(t, DiskConfig{Path: path, KeepCount: 3})
	ctx := context.Background()
	fill(t, d, 0, 4)
	d.Dead(nextNow(t, d), "400 Bad Request (not retried)", nil)
	for range 3 {
		d.Ack(nextNow(t, d), nil)
	}
	n, err := d.PurgeLive(ctx, Dead, Delivered)
	if err != nil || len(n) != 2 || n[0] != 1 || n[1] != 3 {
		t.Fatalf("PurgeLive = %v, %v; want 1 dead and 3 delivered", n, err)
	}
	if _, err := d.PurgeLive(ctx, Pending); err == nil {
		t.Fatal("PurgeLive(pending) was not refused")
	}
	fill(t, d, 4, 3)
	for range 3 {
		d.Ack(nextNow(t, d), nil)
	}
	stop()
	if dead, done := mustList(t, path, Dead), mustList(t, path, Delivered); len(dead) != 0 || ids(done) != "id-4 id-5 id-6" {
		t.Fatalf("after the purge: %d dead, delivered %q; want none and the 3 delivered since", len(dead), ids(done))
	}
}

// TestReplayLiveRacingStop: a replay whose barrier passed in the last
// commit before a stop finds the file closed: it fails with ErrClosed,
// not spinning on it (listen would never stop, waiting for it).
func TestReplayLiveRacingStop(t *testing.T) {
	path := t.TempDir() + "/events.spool"
	d, stop := openRunning(t, DiskConfig{Path: path})
	fill(t, d, 0, 1)
	d.Dead(nextNow(t, d), "400", nil)
	if err := d.barrier(context.Background(), nil, whileShort); err != nil {
		t.Fatal(err)
	}
	stop()
	done := make(chan error, 1)
	go func() { _, err := d.finished(); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("finished after the stop = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("finished still reading 10s after the stop")
	}
}

// TestDeadLettersCounted: DeadLetters follows the dead letters in the file
// as events die, are refused on arrival, replayed and purged, and a
// restart finds the same count in what it loads.
func TestDeadLettersCounted(t *testing.T) {
	path := t.TempDir() + "/events.spool"
	d, stop := openRunning(t, DiskConfig{Path: path})
	ctx := context.Background()
	committed := func(want int64, when string) {
		t.Helper()
		if err := d.barrier(ctx, nil, whileShort); err != nil {
			t.Fatal(err)
		}
		if got := d.DeadLetters(); got != want {
			t.Fatalf("%s: DeadLetters = %d, want %d", when, got, want)
		}
	}
	fill(t, d, 0, 3)
	d.Dead(nextNow(t, d), "400 Bad Request (not retried)", nil)
	d.Dead(nextNow(t, d), "400 Bad Request (not retried)", nil)
	d.Reject(Event{ID: "forged", Key: "k9", Body: []byte(`{}`)}, "bad signature", false)
	committed(3, "two dead, one refused")
	if res, err := d.ReplayLive(ctx, Selection{IDs: []string{"id-0"}}); err != nil || res.N != 1 {
		t.Fatalf("ReplayLive(id-0) = %+v, %v", res, err)
	}
	committed(2, "one replayed")
	stop()
	d, stop = openRunning(t, DiskConfig{Path: path})
	if got := d.DeadLetters(); got != 2 {
		t.Fatalf("after a restart DeadLetters = %d, want 2", got)
	}
	if n, err := d.PurgeLive(ctx, Dead); err != nil || n[0] != 2 {
		t.Fatalf("PurgeLive(dead) = %v, %v", n, err)
	}
	committed(0, "purged")
	stop()
}
