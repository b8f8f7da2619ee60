package spool

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// tries makes n attempts a second apart, each taking a millisecond.
func tries(from time.Time, n int) []Attempt {
	as := make([]Attempt, n)
	for i := range as {
		as[i] = Attempt{At: from.Add(time.Duration(i) * time.Second), Status: 500 + i%4, Duration: time.Millisecond}
	}
	return as
}

// TestKeep: a long history keeps its first KeptFirst and last KeptLast
// attempts and one summary of the rest, and keeping it again after more
// attempts folds them into the same summary; the count never changes.
func TestKeep(t *testing.T) {
	at := time.Unix(1700000000, 0)
	short := tries(at, KeptFirst+KeptLast+1)
	if got := Keep(short); len(got) != len(short) {
		t.Fatalf("Keep of %d attempts dropped some: %d left", len(short), len(got))
	}

	all := tries(at, 250)
	kept := Keep(all)
	if len(kept) != KeptFirst+1+KeptLast || CountAttempts(kept) != 250 {
		t.Fatalf("Keep(250 attempts): %d entries standing for %d, want %d standing for 250", len(kept), CountAttempts(kept), KeptFirst+1+KeptLast)
	}
	sum := kept[KeptFirst]
	wantSum := Attempt{At: all[KeptFirst].At, Omitted: 250 - KeptFirst - KeptLast,
		Duration: all[250-KeptLast-1].At.Add(time.Millisecond).Sub(all[KeptFirst].At)}
	if sum != wantSum {
		t.Errorf("summary %+v, want %+v", sum, wantSum)
	}
	if !slices.Equal(kept[:KeptFirst], all[:KeptFirst]) || !slices.Equal(kept[KeptFirst+1:], all[250-KeptLast:]) {
		t.Error("the first and last attempts are not kept as they were")
	}
	if last, ok := LastAttempt(kept); !ok || last != all[249] {
		t.Errorf("LastAttempt = %+v, %v, want the 250th", last, ok)
	}

	more := Keep(append(slices.Clone(kept), tries(at.Add(time.Hour), 30)...))
	if len(more) != KeptFirst+1+KeptLast || CountAttempts(more) != 280 || more[KeptFirst].Omitted != 280-KeptFirst-KeptLast ||
		more[KeptFirst].At != all[KeptFirst].At {
		t.Errorf("Keep after 30 more: %d entries standing for %d, summary %+v; want the one summary grown to %d",
			len(more), CountAttempts(more), more[KeptFirst], 280-KeptFirst-KeptLast)
	}
	if _, ok := LastAttempt([]Attempt{{Omitted: 3}}); ok {
		t.Error("LastAttempt of a summary alone reports an attempt")
	}
}

// TestDiskKeepsAttemptSummaries: a summary of attempts not kept survives
// the spool, a restart and a compaction as it was, and counts.
func TestDiskKeepsAttemptSummaries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	cfg := DiskConfig{Path: path, CompactAfter: 1}
	history := Keep(tries(time.Unix(1700000000, 0), 5000))

	d, stop := openRunning(t, cfg)
	appendSync(t, d, Event{ID: "a", Key: "call:1", Body: []byte(`{"n":1}`)})
	ev := nextNow(t, d)
	d.Tried(ev, history)
	d.Release(ev)
	stop()

	d, stop = openRunning(t, cfg)
	for i := range 20 { // garbage enough for compactions
		appendSync(t, d, Event{ID: fmt.Sprint(i), Key: fmt.Sprint("k", i), Body: []byte("{}")})
	}
	ev = nextNow(t, d)
	if !slices.Equal(ev.Tried, history) || CountAttempts(ev.Tried) != 5000 {
		t.Fatalf("after restart Next has %d attempts standing for %d, want the %d kept standing for 5000",
			len(ev.Tried), CountAttempts(ev.Tried), len(history))
	}
	for range 20 {
		d.Ack(nextNow(t, d), nil)
	}
	d.Dead(ev, "gave up", history)
	stop()
	dead := mustList(t, path, Dead)
	if len(dead) != 1 || !slices.Equal(dead[0].Attempts, history) {
		t.Fatalf("dead letter attempts = %d entries, want the %d kept", len(dead[0].Attempts), len(history))
	}
}

// TestReplayKeepsOneBoundedHistory: the attempts before a replay and
// those after it are one history, kept as one: first and last attempts of
// all, one summary, every attempt counted.
func TestReplayKeepsOneBoundedHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	at := time.Unix(1700000000, 0)
	d, stop := openRunning(t, DiskConfig{Path: path})
	appendSync(t, d, Event{ID: "a", Key: "call:1", Body: []byte(`{}`)})
	d.Dead(nextNow(t, d), "gave up", Keep(tries(at, 120)))
	stop()
	// As a version 4 file: replay writes summaries, so it raises it first.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{4}, int64(len(fileHeader)-1)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for round := range 3 {
		if _, err := Replay(path, Selection{Dead: true}); err != nil {
			t.Fatal(err)
		}
		if head, err := os.ReadFile(path); err != nil || !bytes.Equal(head[:len(fileHeader)], fileHeader) {
			t.Fatalf("header after replay %d: %q, want %q", round+1, head[:len(fileHeader)], fileHeader)
		}
		d, stop = openRunning(t, DiskConfig{Path: path})
		ev := nextNow(t, d)
		if len(ev.Tried) != 0 {
			t.Fatalf("replay %d: Next has %d attempts, want none: a replay is a fresh start", round+1, len(ev.Tried))
		}
		d.Tried(ev, tries(at.Add(time.Hour), 5))
		d.Dead(ev, "gave up", Keep(tries(at.Add(time.Hour), 120)))
		stop()
	}
	dead := mustList(t, path, Dead)
	if len(dead) != 1 || len(dead[0].Attempts) != KeptFirst+1+KeptLast || CountAttempts(dead[0].Attempts) != 4*120 {
		t.Fatalf("after 3 replays: %d dead, %d entries standing for %d attempts; want 1 with %d standing for %d",
			len(dead), len(dead[0].Attempts), CountAttempts(dead[0].Attempts), KeptFirst+1+KeptLast, 4*120)
	}
	if !dead[0].Attempts[0].At.Equal(at) {
		t.Errorf("first attempt at %v, want the first of all, %v", dead[0].Attempts[0].At, at)
	}
}
