package spool

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzSpoolFrames: frames whose payloads are the fuzzer's, sealed in
// batches with valid checksums, reach what FuzzSpoolFile's raw bytes
// almost never get past: the record, outcome, attempts and forget
// decoders. Whatever they hold, reading the file (Records, List, Find),
// an agent's start and hand-out (OpenDisk, Run, Next, Ack), an offline
// replay and a salvage give results or an error naming the file, never a
// panic; a file that Records reads whole opens, hands out exactly its
// pending records, and reads whole after each of them wrote to it.
//
// The input is frames, each a length byte n and n bytes of payload (its
// kind first); a length of 0 ends a batch (see sealFrames).
func FuzzSpoolFrames(f *testing.F) {
	for _, seed := range seedFrames(f) {
		f.Add(seed)
	}
	f.Add([]byte{0})
	f.Add([]byte{3, frameOutcome, 1, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		p := filepath.Join(t.TempDir(), "fuzz.spool")
		if err := os.WriteFile(p, sealFrames(in), 0o600); err != nil {
			t.Fatal(err)
		}
		named := func(what string, err error) {
			t.Helper()
			if err != nil && !strings.Contains(err.Error(), p) {
				t.Fatalf("%s: %q does not name the file", what, err)
			}
		}
		recs, _, err := Records(p)
		named("Records", err)
		whole := err == nil
		for _, s := range []State{Pending, Dead, Delivered} {
			got, err := List(p, s)
			named("List", err)
			if whole && err != nil {
				t.Fatalf("List(%s) = %v, though Records read the file", s, err)
			}
			if whole && len(got) != countState(recs, s) {
				t.Fatalf("List(%s) gave %d records, Records %d", s, len(got), countState(recs, s))
			}
		}
		if len(recs) > 0 {
			_, _, err := Find(p, recs[0].ID)
			named("Find", err)
			if err != nil {
				t.Fatalf("Find(%q) = %v, though Records read it", recs[0].ID, err)
			}
		}
		handOut(t, p, recs, whole, named)
		if whole {
			if _, _, err := Records(p); err != nil {
				t.Fatalf("after a run, Records = %v, though it read the file before", err)
			}
		}
		_, err = Replay(p, Selection{Dead: true})
		named("Replay", err)
		if whole && err == nil {
			if _, _, err := Records(p); err != nil {
				t.Fatalf("after Replay, Records = %v, though it read the file before", err)
			}
		}
		if _, err := Salvage(p); err != nil {
			named("Salvage", err)
			return
		}
		for _, s := range []State{Pending, Dead, Delivered} {
			if _, err := List(p, s); err != nil {
				t.Fatalf("after Salvage, List(%s) = %v", s, err)
			}
		}
	})
}

// handOut opens the spool at p as listen does, with a short history (so
// that the start and each delivery forget some), and acks every event
// Next hands out. When the file read whole (recs are its records), it
// must open and hand out each pending record once, as List read it.
func handOut(t *testing.T, p string, recs []Record, whole bool, named func(string, error)) {
	t.Helper()
	d, err := OpenDisk(DiskConfig{Path: p, KeepCount: 1, CommitInterval: time.Millisecond})
	named("OpenDisk", err)
	if err != nil {
		if whole {
			t.Fatalf("OpenDisk = %v, though Records read the file", err)
		}
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	want := map[uint64]Record{}
	for _, r := range recs {
		if r.State == Pending {
			want[r.Seq] = r
		}
	}
	n := d.Len()
	if whole && n != len(want) {
		t.Errorf("Len() = %d after the start, List gave %d pending", n, len(want))
	}
	for i := range n {
		// Every event loaded is ready, its key free once the one before
		// is acked: Next waits only for a key parked by a failed read,
		// which ends the loop. The deadline makes a hang a failure.
		c, stop := context.WithTimeout(ctx, 10*time.Second)
		ev, err := d.Next(c)
		stop()
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Next waited 10s for the event %d of %d, with %d events not done", i+1, n, d.Len())
		}
		if err != nil {
			named("Next", err)
			if whole {
				t.Errorf("Next = %v, though List read every pending event", err)
			}
			break
		}
		if whole {
			r, ok := want[ev.Seq]
			if !ok || r.ID != ev.ID || r.Key != ev.Key || !bytes.Equal(r.Body, ev.Body) {
				t.Errorf("Next handed out seq %d (id %q, key %q), not a pending record List read, or not as it read it (%q, %q)", ev.Seq, ev.ID, ev.Key, r.ID, r.Key)
			}
			delete(want, ev.Seq)
		}
		d.Ack(ev, nil)
	}
	d.Close()
	cancel()
	err = <-done
	named("Run", err)
	if whole && err != nil {
		t.Errorf("Run = %v", err)
	}
}

func countState(recs []Record, s State) int {
	n := 0
	for _, r := range recs {
		if r.State == s {
			n++
		}
	}
	return n
}

// sealFrames makes a spool file of in: a header, then each frame of in
// (a length byte n and its n bytes of payload, kind first; a length of 0
// ends a batch) with its length and checksum, in batches with theirs.
func sealFrames(in []byte) []byte {
	file := append([]byte(nil), fileHeader...)
	var batch []byte
	end := func() {
		if len(batch) > 0 {
			b, at := beginBatch(file)
			file = append(b, batch...)
			sealBatch(file, at)
		}
		batch = nil
	}
	for len(in) > 0 {
		n := int(in[0])
		in = in[1:]
		if n == 0 {
			end()
			continue
		}
		n = min(n, len(in))
		if n == 0 {
			break
		}
		var at int
		batch, at = beginFrame(batch, in[0])
		batch = append(batch, in[1:n]...)
		endFrame(batch, at)
		in = in[n:]
	}
	end()
	return file
}

// unsealFrames is sealFrames' input for the spool file at path, which it
// must give back byte for byte: its frames, batch by batch.
func unsealFrames(tb testing.TB, path string) []byte {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var in []byte
	next := int64(-1) // where the batch's next frame would start
	_, err = scan(f, func(kind byte, payload []byte, at span) error {
		if next >= 0 && at.off != next {
			in = append(in, 0) // a batch header came between
		}
		next = at.off + int64(at.n)
		in = append(in, byte(len(payload)+1), kind)
		in = append(in, payload...)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if !bytes.Equal(sealFrames(in), file) {
		tb.Fatalf("%s: its frames do not make the file again (one over 254 bytes?)", path)
	}
	return in
}

// seedFrames writes a spool with a record of every kind of frame, as
// listen and the events commands write them, and returns its frames as
// FuzzSpoolFrames' input: the whole file, and its prefixes at each
// command's writes.
func seedFrames(tb testing.TB) [][]byte {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "seed.spool")
	d, err := OpenDisk(DiskConfig{Path: path, KeepCount: 2, CommitInterval: 1})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	at := time.Unix(1700000000, 123)
	stored := make(chan struct{}, 8)
	for i, key := range []string{"call:1", "call:1", "sms:7", "call:2", "contact:3", "agent:4"} {
		ev := Event{ID: "seed-" + string(rune('a'+i)), Key: key, Type: strings.SplitN(key, ":", 2)[0], Detail: "ringing", Source: "ws-1", Target: "crm", Received: at, Body: []byte(`{"call_id":1,"state":"ringing"}`)}
		if err := d.Append(ev, func(Event) { stored <- struct{}{} }); err != nil {
			tb.Fatal(err)
		}
		<-stored
	}
	tries := []Attempt{
		{At: at, Status: 503, Error: "503 Service Unavailable", Duration: time.Millisecond, RetryAfter: time.Second},
		{Omitted: 5, At: at, Duration: time.Minute},
		{At: at.Add(time.Second), Error: "connection refused", Duration: time.Microsecond},
	}
	next := func() Event {
		ev, err := d.Next(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		return ev
	}
	ev := next()
	d.Tried(ev, tries[:1])
	d.Ack(ev, []Attempt{{At: at, Status: 204, Duration: time.Millisecond}})
	d.Dead(next(), "410 Gone: a final answer", tries)
	ev = next()
	if err := d.Park(ev, tries, Parking{Due: time.Now().Add(time.Hour)}); err != nil {
		tb.Fatal(err)
	}
	for range 3 { // more delivered than KeepCount: a forget frame
		d.Ack(next(), []Attempt{{At: at, Status: 200}})
	}
	d.Reject(Event{ID: "seed-jwt", Key: "call:9", Body: []byte("a.b.c"), JWT: true, Received: at}, "bad signature", false)
	d.Reject(Event{ID: "seed-odd", Key: "other", Body: []byte(`{"hello":1}`), Received: at}, "not an event", true)
	d.Close()
	cancel()
	if err := <-done; err != nil {
		tb.Fatal(err)
	}
	seeds := [][]byte{unsealFrames(tb, path)}
	if _, err := Replay(path, Selection{Dead: true}); err != nil { // a record replacing another
		tb.Fatal(err)
	}
	seeds = append(seeds, unsealFrames(tb, path))
	if _, err := Purge(path, Delivered); err != nil { // a forget frame of its own
		tb.Fatal(err)
	}
	return append(seeds, unsealFrames(tb, path))
}
