package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"
)

// openRunning opens a Disk spool and runs its committer until the test
// ends (or stop is called).
func openRunning(t *testing.T, cfg DiskConfig) (d *Disk, stop func()) {
	t.Helper()
	if cfg.CommitInterval == 0 {
		cfg.CommitInterval = time.Millisecond // tests that append one by one wait less
	}
	d, err := OpenDisk(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		d.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return d, stop
}

// appendSync appends and waits for the commit.
func appendSync(t *testing.T, d *Disk, ev Event) Event {
	t.Helper()
	got := make(chan Event, 1)
	if err := d.Append(ev, func(ev Event) { got <- ev }); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-got:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("append not committed within 10s")
		return Event{}
	}
}

func nextNow(t *testing.T, d *Disk) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ev, err := d.Next(ctx)
	if err != nil {
		d.durableMu.Lock()
		durable := d.durable
		d.durableMu.Unlock()
		var stacks strings.Builder
		pprof.Lookup("goroutine").WriteTo(&stacks, 1)
		t.Fatalf("Next: %v (%d pending, durable up to seq %d)\n%s", err, d.Len(), durable, stacks.String())
	}
	return ev
}

// TestDiskSurvivesRestart: what was appended and not acknowledged comes
// back, byte for byte and in order, after the spool is closed and opened
// again; what was acknowledged does not.
func TestDiskSurvivesRestart(t *testing.T) {
	for _, cache := range []int64{8 << 20, 1} { // bodies in memory, and read back from disk
		t.Run(fmt.Sprintf("cache %d", cache), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.spool")
			d, stop := openRunning(t, DiskConfig{Path: path, CacheBytes: cache})
			body := []byte(`{"call_id":9007199254740993,"state":"ringing"}`)
			for i := range 5 {
				appendSync(t, d, Event{ID: fmt.Sprint("id-", i), Key: "call:1", JWT: i == 2, Body: append(body, byte('0'+i))})
			}
			first := nextNow(t, d)
			if first.ID != "id-0" || string(first.Body) != string(body)+"0" {
				t.Fatalf("first event = %s %q", first.ID, first.Body)
			}
			d.Ack(first, []Attempt{{At: time.Now(), Status: 200}})
			stop()

			d2, _ := openRunning(t, DiskConfig{Path: path, CacheBytes: cache})
			if d2.Len() != 4 {
				t.Fatalf("after restart Len = %d, want 4", d2.Len())
			}
			for i := 1; i < 5; i++ {
				ev := nextNow(t, d2)
				if ev.ID != fmt.Sprint("id-", i) || string(ev.Body) != string(body)+string(rune('0'+i)) || ev.JWT != (i == 2) {
					t.Fatalf("event %d after restart = %+v", i, ev)
				}
				d2.Ack(ev, nil)
			}
		})
	}
}

// TestDiskDeadLetterKeepsHistory: a dead event leaves the pending set and
// is listed with its reason and attempts.
func TestDiskDeadLetterKeepsHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path})
	appendSync(t, d, Event{ID: "a", Key: "sms:1", Body: []byte(`{"id":1}`)})
	ev := nextNow(t, d)
	d.Dead(ev, "400 Bad Request (not retried)", []Attempt{{At: time.Now(), Status: 400, Error: "400 Bad Request"}})
	stop()

	recs, err := List(path, Dead)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].ID != "a" || recs[0].Reason != "400 Bad Request (not retried)" ||
		len(recs[0].Attempts) != 1 || recs[0].Attempts[0].Status != 400 || string(recs[0].Body) != `{"id":1}` {
		t.Fatalf("dead records = %+v", recs)
	}
	if pending, _ := List(path, Pending); len(pending) != 0 {
		t.Fatalf("pending after dead = %+v", pending)
	}
}

// TestDiskTriedSurvivesRestart: the attempts recorded on a pending event
// come back with it after a restart (and through a compaction), show in
// its record (a Retry-After the handler asked for included), and are not
// counted twice once it ends.
func TestDiskTriedSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	cfg := DiskConfig{Path: path, CompactAfter: 1}
	at := time.Unix(1700000000, 0)
	a1 := Attempt{At: at, Status: 503, Duration: time.Millisecond, RetryAfter: 30 * time.Second}
	a2 := Attempt{At: at.Add(time.Second), Error: "connection refused", Duration: 2 * time.Millisecond}
	a3 := Attempt{At: at.Add(2 * time.Second), Status: 400, Duration: 3 * time.Millisecond}

	d, stop := openRunning(t, cfg)
	appendSync(t, d, Event{ID: "a", Key: "call:1", Body: []byte(`{"n":1}`)})
	ev := nextNow(t, d)
	d.Tried(ev, []Attempt{a1})
	d.Tried(ev, []Attempt{a1, a2}) // supersedes the first
	d.Release(ev)
	stop()
	// With an hour's commit interval b's append is still queued when its
	// attempt is recorded: both are written by the last commit, at stop.
	d, stop = openRunning(t, DiskConfig{Path: path, CommitInterval: time.Hour})
	if err := d.Append(Event{ID: "b", Key: "call:2", Body: []byte(`{"n":2}`)}, nil); err != nil {
		t.Fatal(err)
	}
	d.Release(nextNow(t, d)) // a comes first
	evB := nextNow(t, d)
	d.Tried(evB, []Attempt{a1})
	d.Release(evB)
	stop()
	pending := mustList(t, path, Pending)
	if len(pending) != 2 || !slices.Equal(pending[0].Attempts, []Attempt{a1, a2}) || !slices.Equal(pending[1].Attempts, []Attempt{a1}) {
		t.Fatalf("pending after restart = %+v, want a with its 2 attempts and b with 1", pending)
	}

	d, stop = openRunning(t, cfg)
	for i := range 20 { // garbage enough for compactions, which keep a's attempts
		appendSync(t, d, Event{ID: fmt.Sprint(i), Key: fmt.Sprint("k", i), Body: []byte("{}")})
	}
	ev = nextNow(t, d)
	if ev.ID != "a" || !slices.Equal(ev.Tried, []Attempt{a1, a2}) || string(ev.Body) != `{"n":1}` {
		t.Fatalf("after restart Next = %s %q with attempts %+v, want a and its 2 attempts", ev.ID, ev.Body, ev.Tried)
	}
	for range 21 { // b and the 20
		d.Ack(nextNow(t, d), nil)
	}
	d.Dead(ev, "400 Bad Request (not retried)", []Attempt{a1, a2, a3})
	stop()
	dead := mustList(t, path, Dead)
	if len(dead) != 1 || !slices.Equal(dead[0].Attempts, []Attempt{a1, a2, a3}) {
		t.Fatalf("dead letters = %+v, want a with its 3 attempts, each once", dead)
	}
}

// TestDiskKeepsBoundedHistory: only the newest KeepCount delivered events
// are kept.
func TestDiskKeepsBoundedHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path, KeepCount: 3})
	for i := range 100 {
		appendSync(t, d, Event{ID: fmt.Sprint(i), Key: fmt.Sprint("k", i), Body: []byte("{}")})
		d.Ack(nextNow(t, d), nil)
	}
	stop()
	recs, err := List(path, Delivered)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[2].ID != "99" {
		t.Fatalf("delivered history has %d records (last %v), want the newest 3", len(recs), recs)
	}
}

// TestDiskForgetsAgedHistoryWhenIdle: delivered records older than
// KeepAge are forgotten even when nothing else is written, so a quiet spool
// does not keep event bodies past the configured age.
func TestDiskForgetsAgedHistoryWhenIdle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, _ := openRunning(t, DiskConfig{Path: path, KeepAge: 200 * time.Millisecond})
	for i := range 5 {
		appendSync(t, d, Event{ID: fmt.Sprint(i), Key: fmt.Sprint("k", i), Body: []byte("{}")})
		d.Ack(nextNow(t, d), nil)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs, err := List(path, Delivered)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d delivered records still kept 10s after they passed KeepAge with the spool idle", len(recs))
		}
		time.Sleep(20 * time.Millisecond) // polling the file, not synchronising
	}
}

// TestDiskBadFiles: a file that is not a spool, and one that another
// process holds, give errors that name the file.
func TestDiskBadFiles(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.spool")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a spool file ", 512)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDisk(DiskConfig{Path: junk}); err == nil || !strings.Contains(err.Error(), junk) {
		t.Fatalf("OpenDisk(junk) = %v, want an error naming the file", err)
	}

	held := filepath.Join(dir, "held.spool")
	openRunning(t, DiskConfig{Path: held})
	_, err := OpenDisk(DiskConfig{Path: held, LockTimeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), held) {
		t.Fatalf("second OpenDisk = %v, want ErrLocked naming the file", err)
	}
}

// TestDiskFileMode: the spool holds event bodies; only its owner may read it.
func TestDiskFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "events.spool")
	openRunning(t, DiskConfig{Path: path})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
}

func BenchmarkDiskAppendNextAck(b *testing.B) { benchAppendNextAck(b, 0) }

// BenchmarkDiskReadBack is BenchmarkDiskAppendNextAck with no body kept
// in memory: each is read back from the file, as past CacheBytes in a
// burst.
func BenchmarkDiskReadBack(b *testing.B) { benchAppendNextAck(b, 1) }

func benchAppendNextAck(b *testing.B, cache int64) {
	path := filepath.Join(b.TempDir(), "events.spool")
	d, err := OpenDisk(DiskConfig{Path: path, CacheBytes: cache})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	body := make([]byte, 1100)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for i := range b.N {
			d.Append(Event{ID: "x", Key: fmt.Sprint(i % 64), Type: "call", Detail: "ringing", Source: "ws 1", Body: body}, nil)
		}
	}()
	for range b.N {
		ev, err := d.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		d.Ack(ev, nil)
	}
	b.StopTimer()
	d.Close()
	cancel()
	<-done
}

// TestDiskCloseStopsNext: after Close a durable spool hands out nothing
// more, even with events ready; they stay pending for the next start.
func TestDiskCloseStopsNext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path})
	for i := range 5 {
		appendSync(t, d, Event{ID: fmt.Sprint(i), Key: fmt.Sprint("k", i), Body: []byte("{}")})
	}
	d.Close()
	if ev, err := d.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close = %+v, %v; want ErrClosed", ev, err)
	}
	stop()
	if pending, _ := List(path, Pending); len(pending) != 5 {
		t.Fatalf("%d pending after Close, want 5", len(pending))
	}
}

// TestDiskSlowCommitsAndEvictedBodies: with commits far apart (appends are
// carried to the next batch) and no body kept in memory, events handed out
// before they are on disk wait for their sync and read back exactly; those
// delivered before their batch is written land once, as delivered.
func TestDiskSlowCommitsAndEvictedBodies(t *testing.T) {
	for _, cache := range []int64{1, 8 << 20} { // bodies read back; bodies in memory (acked before written)
		t.Run(fmt.Sprintf("cache %d", cache), func(t *testing.T) { slowCommits(t, cache) })
	}
}

func slowCommits(t *testing.T, cache int64) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path, CacheBytes: cache, CommitInterval: 30 * time.Millisecond})
	const n = 50
	for i := range n {
		if err := d.Append(Event{ID: fmt.Sprint("id-", i), Key: fmt.Sprint("k", i%7), Body: []byte(fmt.Sprintf(`{"n":%d}`, i))}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		ev := nextNow(t, d)
		want := fmt.Sprintf(`{"n":%s}`, ev.ID[len("id-"):])
		if string(ev.Body) != want {
			t.Fatalf("event %s body %q, want %q", ev.ID, ev.Body, want)
		}
		d.Ack(ev, []Attempt{{At: time.Now(), Status: 200}})
	}
	stop()
	delivered, err := List(path, Delivered)
	if err != nil {
		t.Fatal(err)
	}
	pending, _ := List(path, Pending)
	if len(delivered) != n || len(pending) != 0 {
		t.Fatalf("%d delivered and %d pending, want %d and 0", len(delivered), len(pending), n)
	}
	for _, r := range delivered {
		if r.State != Delivered || len(r.Attempts) != 1 || r.Attempts[0].Status != 200 {
			t.Fatalf("record %+v: want delivered with its attempt", r)
		}
	}
}

// TestDiskNextAfterRunStopped: once the committer has stopped (as after a
// failed write) and closed the file, Next fails at once for an event whose
// body is on disk; it must not wait or spin.
func TestDiskNextAfterRunStopped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, err := OpenDisk(DiskConfig{Path: path, CacheBytes: 1, CommitInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	appendSync(t, d, Event{ID: "a", Key: "k", Body: []byte(`{"n":1}`)})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	next, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if ev, err := d.Next(next); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Run stopped = %+v, %v; want ErrClosed at once", ev, err)
	}
}

// TestDiskDurableAfterCarry: when a batch carries an append while writing
// a later one (their ages were judged a moment apart), the next batch that
// writes the carried one marks both on disk. Before, the mark stopped at
// the carried seq and a worker waiting for the later body waited forever.
func TestDiskDurableAfterCarry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, err := OpenDisk(DiskConfig{Path: path, CommitInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer d.closeFile()
	young := op{kind: opAppend, ev: Event{ID: "a", Seq: 1, Key: "k1", Body: []byte("{}")}, at: time.Now()}
	old := op{kind: opAppend, ev: Event{ID: "b", Seq: 2, Key: "k2", Body: []byte("{}")}, at: time.Now().Add(-2 * time.Hour)}
	carry, err := d.commit(noRetry, []op{young, old}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(carry) != 1 || carry[0].ev.Seq != 1 || d.durable != 0 {
		t.Fatalf("carried %d ops, durable %d; want seq 1 carried and nothing marked", len(carry), d.durable)
	}
	if _, err := d.commit(noRetry, carry, false, nil); err != nil {
		t.Fatal(err)
	}
	if d.durable != 2 {
		t.Fatalf("durable up to %d after the carried append was written, want 2", d.durable)
	}
}

// TestDiskNextGivenBackStaysPending: an event Next hands out but gives
// back unread, because its caller stopped waiting for it to be on disk, is
// still pending: Len counts it (the agent's "left in the spool" line), and
// its key stays busy.
func TestDiskNextGivenBackStaysPending(t *testing.T) {
	d, err := OpenDisk(DiskConfig{Path: filepath.Join(t.TempDir(), "events.spool"), CacheBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	// No Run: the event is never on disk, so Next waits for it until ctx ends.
	if err := d.Append(Event{ID: "a", Key: "k", Body: []byte(`{"id":1}`)}, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := d.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next = %v, want the context's deadline", err)
	}
	if n := d.Len(); n != 1 {
		t.Errorf("Len after Next gave the event back = %d, want 1", n)
	}
	d.Close()
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := d.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestDiskLastRun: a new file has no last run; while a spool runs idle its
// file's modification time keeps up with the clock (Heartbeat), and the
// next open finds when the run ended.
func TestDiskLastRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path, Heartbeat: 10 * time.Millisecond})
	if !d.LastRun().IsZero() {
		t.Fatalf("LastRun of a new file = %s, want zero", d.LastRun())
	}
	opened := time.Now()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if fi, err := os.Stat(path); err == nil && fi.ModTime().After(opened) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the idle spool's modification time did not move on within 10s")
		}
		time.Sleep(5 * time.Millisecond) // polls a condition with a deadline
	}
	before := time.Now()
	stop()
	after := time.Now()
	d, _ = openRunning(t, DiskConfig{Path: path})
	if last := d.LastRun(); last.Before(before) || last.After(after) {
		t.Fatalf("LastRun = %s, want the end of the run, between %s and %s", last, before, after)
	}
}

// TestOfflineCommandsKeepLastRun: an offline replay, purge or salvage
// keeps the file's modification time, when its last run stopped reading:
// the next start's "missed" window begins there, and it began at the
// command (a new user's walk-through: an SMS sent between the stop and a
// purge fell in no logged window).
func TestOfflineCommandsKeepLastRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path})
	fill(t, d, 0, 3)
	d.Dead(nextNow(t, d), "400 Bad Request (not retried)", nil)
	d.Ack(nextNow(t, d), nil)
	stop()
	ranUntil := time.Now().Add(-time.Hour) // plainly not the commands' time
	if err := os.Chtimes(path, time.Time{}, ranUntil); err != nil {
		t.Fatal(err)
	}
	if _, err := Replay(path, Selection{Dead: true}); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if n, _, err := PurgeStates(path, Delivered); err != nil || n[0] != 1 {
		t.Fatalf("PurgeStates: %v, %v; want the one delivered event purged", n, err)
	}
	if fi, err := os.Stat(path); err != nil || !fi.ModTime().Equal(ranUntil) {
		t.Fatalf("modification time after replay and purge: %v, %v; want the run's end, %s", fi.ModTime(), err, ranUntil)
	}
	d, _ = openRunning(t, DiskConfig{Path: path})
	if last := d.LastRun(); !last.Equal(ranUntil) {
		t.Fatalf("LastRun = %s, want %s, the run's end", last, ranUntil)
	}
}

// TestRunMarksItsStart: a run sets its file's modification time as it
// starts, so that a crash before its first heartbeat does not leave the
// previous run's end there: the next start would log again the window
// this run logged, and count its connected time as missed.
func TestRunMarksItsStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path})
	stop()
	earlier := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, time.Time{}, earlier); err != nil {
		t.Fatal(err)
	}
	started := time.Now().Add(-time.Second) // the file system's clock may be coarse
	d, stop = openRunning(t, DiskConfig{Path: path, Heartbeat: time.Hour})
	defer stop()
	if !d.LastRun().Equal(earlier) {
		t.Fatalf("LastRun = %s, want the previous run's end %s", d.LastRun(), earlier)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) { // polls a condition with a deadline
		if fi, err := os.Stat(path); err == nil && fi.ModTime().After(started) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the running spool's modification time is still the previous run's end, 10 s after it started")
		}
	}
}
