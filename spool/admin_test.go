package spool

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fixture is a spool file filled through a running Disk, as the agent
// fills it; outcome says what becomes of each event appended: "pending",
// "dead" or "delivered".
type fixture struct {
	path string
	at   map[string]time.Time // delivery id → just before its Ack or Dead
}

type fixtureEvent struct {
	id, key, outcome string
}

func newFixture(t *testing.T, events ...fixtureEvent) fixture {
	t.Helper()
	f := fixture{path: filepath.Join(t.TempDir(), "events.spool"), at: map[string]time.Time{}}
	withDisk(t, f.path, func(d *Disk) {
		for _, e := range events {
			committed := make(chan struct{})
			ev := Event{ID: e.id, Key: e.key, Type: "call", Detail: "ringing", Body: []byte(`{"id":"` + e.id + `"}`), Received: time.Now()}
			if err := d.Append(ev, func(Event) { close(committed) }); err != nil {
				t.Fatal(err)
			}
			<-committed
		}
		// Each key's events come out in order; the ones to keep pending
		// are released (as at shutdown) so later ones of the key follow.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for range events {
			ev, err := d.Next(ctx)
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			var outcome string
			for _, e := range events {
				if e.id == ev.ID {
					outcome = e.outcome
				}
			}
			f.at[ev.ID] = time.Now()
			switch outcome {
			case "dead":
				d.Dead(ev, "400 Bad Request (not retried)", []Attempt{{At: time.Now(), Status: 400, Error: "400 Bad Request", Duration: time.Millisecond}})
			case "delivered":
				d.Ack(ev, []Attempt{{At: time.Now(), Status: 204, Duration: time.Millisecond}})
			default:
				d.Release(ev) // leave it pending, free its key
			}
		}
	})
	return f
}

// withDisk opens the spool at path, runs its committer, calls fn and
// stops it, flushing every write.
func withDisk(t *testing.T, path string, fn func(*Disk)) {
	t.Helper()
	d, err := OpenDisk(DiskConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		d.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	fn(d)
}

func ids(recs []Record) string {
	var s []string
	for _, r := range recs {
		s = append(s, r.ID)
	}
	return strings.Join(s, " ")
}

func mustList(t *testing.T, path string, state State) []Record {
	t.Helper()
	recs, err := List(path, state)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestFind(t *testing.T) {
	f := newFixture(t,
		fixtureEvent{"aaaaaaaa-0001", "call:1", "pending"},
		fixtureEvent{"aaaaaaaa-0002", "call:2", "dead"},
		fixtureEvent{"bbbbbbbb-0003", "call:3", "delivered"},
		fixtureEvent{"short", "call:4", "dead"},
	)
	for _, tc := range []struct {
		query, wantID string
		wantState     State
		wantErr       error
		wantMsg       string
	}{
		{query: "aaaaaaaa-0001", wantID: "aaaaaaaa-0001", wantState: Pending},
		{query: "aaaaaaaa-0002", wantID: "aaaaaaaa-0002", wantState: Dead},
		{query: "bbbbbbbb", wantID: "bbbbbbbb-0003", wantState: Delivered},
		{query: "BBBBBBBB", wantID: "bbbbbbbb-0003", wantState: Delivered}, // case does not matter
		{query: "AAAAAAAA-0002", wantID: "aaaaaaaa-0002", wantState: Dead},
		{query: "short", wantID: "short", wantState: Dead}, // an exact id needs no minimum length
		{query: "aaaaaaaa", wantErr: ErrAmbiguous, wantMsg: "aaaaaaaa-0001 (pending), aaaaaaaa-0002 (dead)"},
		{query: "cccccccc", wantErr: ErrNotFound, wantMsg: `"cccccccc"`},
		{query: "bbbb", wantMsg: "too short"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			r, _, err := Find(f.path, tc.query)
			if tc.wantMsg != "" {
				if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) ||
					!strings.Contains(err.Error(), tc.wantMsg) || !strings.Contains(err.Error(), f.path) {
					t.Fatalf("Find(%q) = %v, want an error naming the file, wrapping %v, saying %q", tc.query, err, tc.wantErr, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.ID != tc.wantID || r.State != tc.wantState || string(r.Body) != `{"id":"`+tc.wantID+`"}` {
				t.Fatalf("Find(%q) = %s %s %q, want %s %s", tc.query, r.ID, r.State, r.Body, tc.wantID, tc.wantState)
			}
		})
	}
	// A pasted page is not said back whole.
	if _, _, err := Find(f.path, strings.Repeat("c", 5000)); !errors.Is(err, ErrNotFound) || len(err.Error()) > 300 {
		t.Errorf("Find of a 5,000-character id: %d bytes of error (%.100q…), want ErrNotFound under 300", len(err.Error()), err)
	}
	r, _, err := Find(f.path, "aaaaaaaa-0002")
	if err != nil || r.Reason == "" || len(r.Attempts) != 1 || r.Attempts[0].Status != 400 || r.Finished.IsZero() {
		t.Fatalf("dead record = %+v, %v: want its reason, attempt and finish time", r, err)
	}
}

// TestReplayDead: a replayed dead letter goes to the pending tail with its
// id, key and history, and a restarted spool hands it out after the events
// that were already pending, then gives new events later seqs.
func TestReplayDead(t *testing.T) {
	f := newFixture(t,
		fixtureEvent{"dead-0001", "call:1", "dead"},
		fixtureEvent{"pend-0002", "call:2", "pending"},
		fixtureEvent{"dead-0003", "call:1", "dead"},
		fixtureEvent{"done-0004", "call:3", "delivered"},
	)
	res, err := Replay(f.path, Selection{Dead: true})
	if err != nil || res.N != 2 || res.Refused != 0 || res.Tail.Bytes != 0 {
		t.Fatalf("Replay(dead) = %+v, %v; want 2", res, err)
	}
	if dead := mustList(t, f.path, Dead); len(dead) != 0 {
		t.Fatalf("dead after replay: %s", ids(dead))
	}
	if d := ids(mustList(t, f.path, Delivered)); d != "done-0004" {
		t.Fatalf("delivered after replay: %s; replay --dead must not touch it", d)
	}
	pending := mustList(t, f.path, Pending)
	if got := ids(pending); got != "pend-0002 dead-0001 dead-0003" {
		t.Fatalf("pending after replay = %s, want the replayed ones at the tail in arrival order", got)
	}
	for _, r := range pending[1:] {
		if r.Seq <= 4 || r.State != Pending || r.Reason != "" || !r.Finished.IsZero() || r.Replays != 1 ||
			len(r.Attempts) != 1 || r.Attempts[0].Status != 400 || r.Key != "call:1" {
			t.Fatalf("replayed record = %+v", r)
		}
	}

	withDisk(t, f.path, func(d *Disk) {
		if d.Len() != 3 {
			t.Fatalf("restarted spool holds %d pending, want 3", d.Len())
		}
		committed := make(chan Event, 1)
		if err := d.Append(Event{ID: "new-0005", Key: "call:9", Body: []byte("{}")}, func(ev Event) { committed <- ev }); err != nil {
			t.Fatal(err)
		}
		if ev := <-committed; ev.Seq <= pending[2].Seq {
			t.Fatalf("new event got seq %d, not after the replayed %d: the sequence is out of step", ev.Seq, pending[2].Seq)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for range 4 {
			ev, err := d.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			d.Ack(ev, []Attempt{{At: time.Now(), Status: 200}})
		}
	})
	delivered := mustList(t, f.path, Delivered)
	r := delivered[len(delivered)-1]
	for _, d := range delivered {
		if d.ID == "dead-0003" {
			r = d
		}
	}
	if r.ID != "dead-0003" || len(r.Attempts) != 2 || r.Attempts[0].Status != 400 || r.Attempts[1].Status != 200 || r.Replays != 1 {
		t.Fatalf("replayed event once delivered = %+v, want both attempts and one replay", r)
	}
}

// TestReplaySelection: ids and prefixes name what goes back, the filters
// (dead, since) choose it and narrow each other; a bad id, or ids with
// filters, move nothing.
func TestReplaySelection(t *testing.T) {
	f := newFixture(t,
		fixtureEvent{"dead-0001", "call:1", "dead"},
		fixtureEvent{"done-0002", "call:2", "delivered"},
		fixtureEvent{"done-0003", "call:3", "delivered"},
		fixtureEvent{"pend-0004", "call:4", "pending"},
		fixtureEvent{"dead-0005", "call:5", "dead"},
		fixtureEvent{"done-0006", "call:6", "delivered"},
	)
	for _, tc := range []struct {
		sel  Selection
		want string
	}{
		{Selection{IDs: []string{"pend-0004"}}, "event pend-0004 is still pending: listen delivers it at its next start; nothing was replayed"},
		{Selection{IDs: []string{"done-0002", "nope-nope"}}, "no delivery id"},
		{Selection{IDs: []string{"dead-000"}}, "ambiguous"},
		{Selection{IDs: []string{"done-0002"}, Dead: true}, "give delivery ids or filters (dead, since), not both"},
		{Selection{IDs: []string{"done-0002"}, Since: f.at["done-0002"]}, "not both"},
		{Selection{}, "nothing selected"},
	} {
		if res, err := Replay(f.path, tc.sel); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), f.path) {
			t.Fatalf("Replay(%+v) = %+v, %v; want an error naming the file saying %q", tc.sel, res, err, tc.want)
		}
	}
	if p := ids(mustList(t, f.path, Pending)); p != "pend-0004" {
		t.Fatalf("a failed replay moved records: pending = %s", p)
	}

	for _, tc := range []struct {
		name string
		sel  Selection
		want string // pending afterwards
	}{
		{"dead since: dead letters finished since, not delivered ones", Selection{Dead: true, Since: f.at["done-0003"]}, "pend-0004 dead-0005"},
		{"since: dead and delivered finished since", Selection{Since: f.at["done-0003"]}, "pend-0004 dead-0005 done-0003 done-0006"},
		{"ids, an id named twice moves once", Selection{IDs: []string{"done-0002", "done-0002", "dead-0001"}}, "pend-0004 dead-0005 done-0003 done-0006 dead-0001 done-0002"},
	} {
		before := len(mustList(t, f.path, Pending))
		res, err := Replay(f.path, tc.sel)
		if p := ids(mustList(t, f.path, Pending)); err != nil || p != tc.want || res.N != len(mustList(t, f.path, Pending))-before {
			t.Fatalf("%s: Replay = %+v, %v; pending = %s, want %s", tc.name, res, err, p, tc.want)
		}
	}
	if res, err := Replay(f.path, Selection{Dead: true}); err != nil || res.N != 0 {
		t.Fatalf("Replay(dead) with no dead letter left = %+v, %v; want nothing put back", res, err)
	}
}

func TestPurge(t *testing.T) {
	f := newFixture(t,
		fixtureEvent{"dead-0001", "call:1", "dead"},
		fixtureEvent{"done-0002", "call:2", "delivered"},
		fixtureEvent{"dead-0003", "call:3", "dead"},
		fixtureEvent{"pend-0004", "call:4", "pending"},
	)
	if _, err := Purge(f.path, Pending); err == nil {
		t.Fatal("Purge(pending) succeeded; pending events must not be purged")
	}
	for _, tc := range []struct {
		state State
		want  int
	}{{Dead, 2}, {Dead, 0}, {Delivered, 1}} {
		if n, err := Purge(f.path, tc.state); err != nil || n != tc.want {
			t.Fatalf("Purge(%s) = %d, %v; want %d", tc.state, n, err, tc.want)
		}
	}
	if p := ids(mustList(t, f.path, Pending)); p != "pend-0004" {
		t.Fatalf("pending after purge = %s", p)
	}
	if n := len(mustList(t, f.path, Dead)) + len(mustList(t, f.path, Delivered)); n != 0 {
		t.Fatalf("%d dead or delivered left after purge", n)
	}
}

// TestAdminRefuses: a spool held by an agent refuses Replay and Purge (List
// and Find only read, and work); a missing file and a file that is not a
// spool give errors naming the file, and change nothing.
func TestAdminRefuses(t *testing.T) {
	dir := t.TempDir()
	ops := map[string]func(path string) error{
		"List":   func(p string) error { _, err := List(p, Dead); return err },
		"Find":   func(p string) error { _, _, err := Find(p, "whatever-id"); return err },
		"Replay": func(p string) error { _, err := Replay(p, Selection{Dead: true}); return err },
		"Purge":  func(p string) error { _, err := Purge(p, Dead); return err },
	}

	held := filepath.Join(dir, "held.spool")
	withDisk(t, held, func(*Disk) {
		for _, name := range []string{"Replay", "Purge"} {
			if err := ops[name](held); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), held) {
				t.Errorf("%s on a spool held by an agent = %v, want ErrLocked naming the file", name, err)
			}
		}
		if _, err := List(held, Dead); err != nil {
			t.Errorf("List on a spool held by an agent = %v, want it to read", err)
		}
		if _, _, err := Find(held, "whatever-id"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Find on a spool held by an agent = %v, want ErrNotFound", err)
		}
	})

	missing := filepath.Join(dir, "missing.spool")
	junk := filepath.Join(dir, "junk.spool")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a spool file ", 512)), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, op := range ops {
		if err := op(missing); err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("%s on a missing file = %v, want an error naming it", name, err)
		}
		if err := op(junk); err == nil || !strings.Contains(err.Error(), junk) {
			t.Errorf("%s on a junk file = %v, want an error naming it", name, err)
		}
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the events functions created %s", missing)
	}
}

// TestReplayNeverRejected: a frame refused on arrival (a bad signature) is
// a dead letter that no replay puts back, named or not.
func TestReplayNeverRejected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	withDisk(t, path, func(d *Disk) {
		d.Reject(Event{ID: "forged-0001", Key: "call:1", Body: []byte("a.b.c"), JWT: true}, "signature does not verify", false)
		committed := make(chan struct{})
		if err := d.Append(Event{ID: "later-0001", Key: "call:2", Body: []byte(`{}`)}, func(Event) { close(committed) }); err != nil {
			t.Fatal(err)
		}
		<-committed
		ev, err := d.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		d.Dead(ev, "400 Bad Request (not retried)", nil)
	})
	dead := mustList(t, path, Dead)
	if len(dead) != 2 || !dead[0].Rejected || dead[1].Rejected {
		t.Fatalf("dead = %+v, want the refused frame marked and the 400 not", dead)
	}
	if res, err := Replay(path, Selection{Dead: true, Since: time.Now().Add(-time.Hour)}); err != nil || res.N != 1 || res.Refused != 1 {
		t.Fatalf("Replay --dead --since = %+v, %v; want only the 400 put back and the refused frame counted", res, err)
	}
	if res, err := Replay(path, Selection{Dead: true}); err != nil || res.N != 0 || res.Refused != 1 {
		t.Fatalf("Replay --dead again = %+v, %v; want nothing put back and the refused frame counted", res, err)
	}
	if res, err := Replay(path, Selection{Dead: true, Since: time.Now().Add(time.Hour)}); err != nil || res.N != 0 || res.Refused != 0 {
		t.Fatalf("Replay --dead --since (later) = %+v, %v; want nothing, and no refused frame counted (it is older)", res, err)
	}
	want := "event forged-0001 was refused on arrival by --verify-secret (`events show` gives the reason), and a refused frame is never replayed; nothing was replayed"
	for _, id := range []string{"forged-0001", "forged-0", "later-0001"} {
		_, err := Replay(path, Selection{IDs: []string{id}})
		if id == "later-0001" {
			want = "event later-0001 is still pending"
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Replay(%s) = %v, want %q", id, err, want)
		}
	}
	if pending := mustList(t, path, Pending); ids(pending) != "later-0001" {
		t.Fatalf("pending after replays: %q, want only later-0001", ids(pending))
	}
}

// TestTail: when the last batch is damaged or cut short (a crash before its
// sync), the events functions read what comes before it and report where
// it starts and its size. Records, Find, and Replay and Purge with nothing
// to write leave the file as it is; a Purge that writes cuts it off first,
// as an agent's start would. While an agent holds the file, bytes after
// its intact data are its write in progress: no tail.
func TestTail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(b []byte, last int) []byte
	}{
		{"a byte flipped in the last batch", func(b []byte, last int) []byte { b[len(b)-1] ^= 0x20; return b }},
		{"the last batch cut half-way", func(b []byte, last int) []byte { return b[:last+(len(b)-last)/2] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t,
				fixtureEvent{"dead-0001", "call:1", "pending"},
				fixtureEvent{"dead-0002", "call:2", "pending"},
				fixtureEvent{"dead-0003", "call:3", "pending"},
				fixtureEvent{"done-0004", "call:4", "delivered"},
			)
			finishInOneBatch(t, f.path)
			whole, err := os.ReadFile(f.path)
			if err != nil {
				t.Fatal(err)
			}
			if dead := ids(mustList(t, f.path, Dead)); dead != "dead-0001 dead-0002 dead-0003" {
				t.Fatalf("dead = %s, want the three", dead)
			}
			last := lastBatch(t, whole)
			damaged := tc.damage(whole, last)
			if err := os.WriteFile(f.path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			want := Tail{Offset: int64(last), Bytes: int64(len(damaged) - last)}
			unchanged := func(what string) {
				t.Helper()
				if b, err := os.ReadFile(f.path); err != nil || string(b) != string(damaged) {
					t.Fatalf("%s changed the file (%v)", what, err)
				}
			}

			recs, tail, err := Records(f.path)
			if err != nil || tail != want || ids(recs) != "dead-0001 dead-0002 dead-0003 done-0004" || recs[0].State != Pending {
				t.Fatalf("Records = %s, %+v, %v; want the three pending (their outcomes are in the tail) and done-0004, tail %+v", ids(recs), tail, err, want)
			}
			unchanged("Records")
			if r, tail, err := Find(f.path, "dead-0002"); err != nil || r.State != Pending || tail != want {
				t.Fatalf("Find = %s %s, %+v, %v; want it pending, tail %+v", r.ID, r.State, tail, err, want)
			}
			if _, tail, err := Find(f.path, "nope-nope"); !errors.Is(err, ErrNotFound) || tail != want {
				t.Fatalf("Find(missing) = %+v, %v; want ErrNotFound and the tail", tail, err)
			}
			unchanged("Find")
			if res, err := Replay(f.path, Selection{Dead: true}); err != nil || res.N != 0 || res.Tail != want {
				t.Fatalf("Replay(dead) = %+v, %v; want nothing put back, tail %+v not cut", res, err, want)
			}
			unchanged("a Replay with nothing to write")
			if n, tail, err := PurgeStates(f.path, Dead); err != nil || n[0] != 0 || tail != want {
				t.Fatalf("PurgeStates(dead) = %v, %+v, %v; want 0, tail %+v not cut", n, tail, err, want)
			}
			unchanged("a Purge with nothing to write")

			lock, err := os.Open(f.path)
			if err != nil {
				t.Fatal(err)
			}
			if err := lockFile(lock, time.Now()); err != nil {
				t.Fatal(err)
			}
			if !held(f.path) {
				t.Log("this system has no file locks: an agent's write in progress cannot be told from a torn tail")
			} else if _, tail, err := Records(f.path); err != nil || tail.Bytes != 0 {
				t.Errorf("Records while an agent holds the file = %+v, %v; want no tail (its write in progress)", tail, err)
			}
			lock.Close()

			want.Cut = true
			if n, tail, err := PurgeStates(f.path, Delivered, Dead); err != nil || n[0] != 1 || n[1] != 0 || tail != want {
				t.Fatalf("PurgeStates(delivered, dead) = %v, %+v, %v; want 1, 0 and tail %+v cut", n, tail, err, want)
			}
			b, err := os.ReadFile(f.path)
			if err != nil || string(b[:last]) != string(damaged[:last]) || len(b) == len(damaged) {
				t.Fatalf("after the purge the file is %d bytes (%v); want the %d before the tail and a new batch", len(b), err, last)
			}
			if recs, tail, err := Records(f.path); err != nil || tail.Bytes != 0 || ids(recs) != "dead-0001 dead-0002 dead-0003" {
				t.Fatalf("Records after the purge = %s, %+v, %v; want the three pending and no tail", ids(recs), tail, err)
			}
			withDisk(t, f.path, func(d *Disk) {
				if d.Len() != 3 {
					t.Errorf("an agent opening the file finds %d pending, want 3", d.Len())
				}
			})
		})
	}
}

// finishInOneBatch opens the spool at path and gives every pending event
// a dead letter's outcome, all in one batch, the file's last.
func finishInOneBatch(t *testing.T, path string) {
	t.Helper()
	d, err := OpenDisk(DiskConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range d.Len() {
		ev, err := d.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d.Dead(ev, "400 Bad Request (not retried)", nil)
	}
	d.Close()
	stopped, stop := context.WithCancel(context.Background())
	stop() // Run takes every queued op into its first batch, writes it and returns
	if err := d.Run(stopped); err != nil {
		t.Fatal(err)
	}
}

// lastBatch returns the offset of the last batch in a spool file's bytes.
func lastBatch(t *testing.T, b []byte) int {
	t.Helper()
	last := -1
	for at := len(fileHeader); at < len(b); {
		if len(b)-at < batchHeader || string(b[at:at+4]) != batchMagic {
			t.Fatalf("no batch at offset %d", at)
		}
		last = at
		at += batchHeader + int(binary.LittleEndian.Uint32(b[at+4:]))
	}
	if last < 0 {
		t.Fatal("the file has no batch")
	}
	return last
}

// An empty file, which a crash right after creating the spool leaves, reads
// as a spool with no events, as listen takes it for a new one.
func TestAdminEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	recs, err := List(path, Pending)
	if err != nil || len(recs) != 0 {
		t.Fatalf("List of an empty file = %v, %v; want no records and no error", recs, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Fatalf("the empty file was changed: %v, %v", fi, err)
	}
}
