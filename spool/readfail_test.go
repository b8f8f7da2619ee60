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

// TestReadFailureReadAgain: a pending event whose body cannot be read back
// (a frame failing its checksum, as a flaky disk gives) is not given up
// for the run: it stays first of its key, takes no worker, and is read
// again after a backoff that grows; the bytes read are not kept, so once
// the file reads right it is handed out, then the events of its key behind
// it. Another key goes ahead meanwhile. (Before, one failed read left the
// key busy for the rest of the run, and its events waited for a restart.)
func TestReadFailureReadAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, _ := openRunning(t, DiskConfig{Path: path, CacheBytes: 1, readRetry: time.Millisecond})
	appendSync(t, d, Event{ID: "a", Key: "call:1", Body: []byte(`{"call_id":1,"mark":"MARKED"}`)})
	appendSync(t, d, Event{ID: "b", Key: "call:1", Body: []byte(`{"call_id":1}`)})
	appendSync(t, d, Event{ID: "c", Key: "call:2", Body: []byte(`{"call_id":2}`)})

	write := overwriter(t, path, "MARKED")
	write("Q")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var retries []time.Duration
	var got []string
	for len(retries) < 2 {
		ev, err := d.Next(ctx)
		var re *ReadError
		switch {
		case errors.As(err, &re):
			if re.Key != "call:1" || !errors.Is(err, errCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "events salvage") {
				t.Fatalf("Next: %v, want the read error of call:1's event naming the file", err)
			}
			retries = append(retries, re.Retry)
		case err != nil:
			t.Fatalf("Next: %v", err)
		default:
			got = append(got, ev.ID)
			d.Ack(ev, nil)
		}
	}
	if want := []time.Duration{time.Millisecond, 2 * time.Millisecond}; retries[0] != want[0] || retries[1] != want[1] {
		t.Errorf("read again after %v, want %v", retries, want)
	}
	if strings.Join(got, " ") != "c" {
		t.Errorf("handed out %v while call:1's event could not be read, want c", got)
	}

	write("M")
	for _, want := range []string{"a", "b"} {
		if ev := nextNow(t, d); ev.ID != want || !bytes.Contains(ev.Body, []byte(`"call_id":1`)) {
			t.Fatalf("handed out %s %q, want %s", ev.ID, ev.Body, want)
		} else {
			d.Ack(ev, nil)
		}
	}
}

// TestReadFailureKeepsRetryWait: an event whose read back failed, and that
// was read at its next try, is handed out with the Due it had before: one
// resumed after a restart (zero Due: its wait follows from its attempts,
// here a Retry-After of an hour) is not sent at once because the read's
// own retry had a due time of its own.
func TestReadFailureKeepsRetryWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path, CacheBytes: 1})
	ev := appendSync(t, d, Event{ID: "a", Key: "call:1", Body: []byte(`{"call_id":1,"mark":"MARKED"}`)})
	d.Tried(ev, []Attempt{{At: time.Now(), Status: 503, Error: "503", RetryAfter: time.Hour}})
	stop()
	d, _ = openRunning(t, DiskConfig{Path: path, CacheBytes: 1, readRetry: time.Millisecond})
	write := overwriter(t, path, "MARKED")
	write("Q")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var re *ReadError
	if _, err := d.Next(ctx); !errors.As(err, &re) {
		t.Fatalf("Next: %v, want a ReadError", err)
	}
	write("M")
	got := nextNow(t, d)
	if !got.Due.IsZero() || len(got.Tried) != 1 {
		t.Errorf("handed out with Due %v and %d attempts, want no Due (its wait follows from its 1 attempt)", got.Due, len(got.Tried))
	}
}

// overwriter returns what writes its bytes over the spool file at path
// where mark is in it, as a disk that reads wrong bytes there would give
// them, or right ones again.
func overwriter(t *testing.T, path, mark string) func(string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := int64(bytes.Index(raw, []byte(mark)))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return func(b string) {
		if _, err := f.WriteAt([]byte(b), at); err != nil {
			t.Fatal(err)
		}
	}
}
