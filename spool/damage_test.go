package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestForgetCountBeyondFrame: a forget frame (checksums intact) whose
// count says more seqs than the frame holds is a corrupt record. Every
// reader of the file ends at once with an error naming it, as for a bad
// attempt count; none loops count times (2^63 here: for ever).
func TestForgetCountBeyondFrame(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	buf, at := beginFrame(nil, frameForget)
	buf = binary.AppendUvarint(buf, 1<<63)
	endFrame(buf, at)
	batch, bat := beginBatch(append([]byte(nil), fileHeader...))
	batch = append(batch, buf...)
	sealBatch(batch, bat)
	if err := os.WriteFile(path, batch, 0o600); err != nil {
		t.Fatal(err)
	}
	// Each read runs on its own goroutine, so that a loop fails the test
	// after a deadline rather than hanging it (it leaks that goroutine).
	within := func(what string, read func() error) error {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- read() }()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			t.Fatalf("%s still reading a forget frame with a count of 2^63 in one byte after 5s", what)
			return nil
		}
	}
	for _, r := range []struct {
		what string
		read func() error
	}{
		{"List", func() error { _, err := List(path, Pending); return err }},
		{"OpenDisk", func() error {
			d, err := OpenDisk(DiskConfig{Path: path})
			if err == nil {
				d.Close()
				d.closeFile()
			}
			return err
		}},
	} {
		err := within(r.what, r.read)
		if !errors.Is(err, errCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "forget frame") {
			t.Fatalf("%s = %v, want a corrupt forget frame in %s", r.what, err, path)
		}
	}
	var s Salvaged
	err := within("Salvage", func() (err error) { s, err = Salvage(path); return err })
	if err != nil || len(s.Damaged) != 1 || s.Damaged[0].Offset != int64(len(fileHeader)) || s.Tail != 0 {
		t.Fatalf("Salvage = %+v, %v: want its one batch skipped as damaged (its checksum holds: not a torn write)", s, err)
	}
}

// batchOffsets returns the offset of every batch in a spool file's bytes.
func batchOffsets(t *testing.T, b []byte) []int {
	t.Helper()
	var offs []int
	for at := len(fileHeader); at < len(b); at += batchHeader + int(binary.LittleEndian.Uint32(b[at+4:])) {
		if len(b)-at < batchHeader || string(b[at:at+4]) != batchMagic {
			t.Fatalf("no batch at offset %d", at)
		}
		offs = append(offs, at)
	}
	return offs
}

// TestDiskDamageAcrossSyncedBatches: a crash can leave only the last batch
// unfinished, as each batch is synced (and its events reported received)
// before the next is written. Damage that reaches the end of the file but
// shows more than one batch is not a torn write: the start refuses the
// file, names the offset and leaves it as it is, the events commands
// refuse it too, and salvage keeps every batch before it and reports it
// damaged, not an unfinished tail. What may be one torn batch is still
// cut off, as before.
func TestDiskDamageAcrossSyncedBatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path})
	for i := range 60 { // one synced batch each: appendSync waits for it
		body := fmt.Sprintf(`{"n":%d}`, i)
		if i == 59 {
			body = fmt.Sprintf(`{"n":%d,"pad":"%0600d"}`, i, 0) // a length of two bytes
		}
		appendSync(t, d, Event{ID: fmt.Sprint("id-", i), Key: fmt.Sprint("k", i), Body: []byte(body), Received: time.Now()})
	}
	stop()
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	offs := batchOffsets(t, whole)
	if len(offs) != 60 {
		t.Fatalf("%d batches, want one per event", len(offs))
	}
	zero := func(b []byte, from, to int) {
		for i := from; i < to; i++ {
			b[i] = 0
		}
	}
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
		first  int // the first batch damaged
		torn   bool
	}{
		{"the last 1 KiB zeroed (a lost block), from inside a batch", func(b []byte) []byte {
			zero(b, len(b)-1024, len(b))
			return b
		}, -1, false},
		{"zeroed from a batch's start to the end", func(b []byte) []byte {
			zero(b, offs[50], len(b))
			return b
		}, 50, true}, // nothing shows where the batch ended: it cannot be told from a write cut short
		{"a batch's header zeroed, and each later batch's checksum", func(b []byte) []byte {
			zero(b, offs[50], offs[50]+batchHeader)
			for _, at := range offs[51:] {
				b[at+8] ^= 0xff
			}
			return b
		}, 50, false}, // the later batches start with a whole frame
		{"a hole of zeros in the last batch", func(b []byte) []byte {
			zero(b, offs[59]+batchHeader+4, len(b)-4)
			return b
		}, 59, true},
		{"the last batch cut half-way", func(b []byte) []byte {
			return b[:offs[59]+(len(b)-offs[59])/2]
		}, 59, true},
		{"the last batch's header torn across two sectors", func(b []byte) []byte {
			zero(b, offs[59]+5, offs[59]+batchHeader) // its length's high bytes and its checksum
			return b
		}, 59, true},
		{"the last batch's header zeroed", func(b []byte) []byte {
			zero(b, offs[59], offs[59]+batchHeader)
			return b
		}, 59, true},
		{"zeros past the last batch", func(b []byte) []byte {
			return append(b, make([]byte, 3000)...)
		}, 60, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			damaged := tc.damage(append([]byte(nil), whole...))
			if err := os.WriteFile(path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			first := tc.first
			if first < 0 {
				for first = 59; offs[first]+batchHeader > len(damaged)-1024; first-- {
				}
			}
			d, err := OpenDisk(DiskConfig{Path: path})
			if tc.torn {
				if err != nil {
					t.Fatalf("OpenDisk = %v, want the last batch cut off as a torn write", err)
				}
				n := d.Len()
				d.Close()
				d.closeFile()
				if n != first {
					t.Fatalf("Len = %d, want the %d events before the torn batch", n, first)
				}
				return
			}
			if err == nil {
				n := d.Len()
				d.Close()
				d.closeFile()
				fi, _ := os.Stat(path)
				t.Fatalf("opened a file whose last %d synced batches are damaged: %d of 60 stored events left, file cut from %d to %d bytes", 60-first, n, len(damaged), fi.Size())
			}
			if want := fmt.Sprintf("batch at offset %d is damaged", offs[first]); !errors.Is(err, errCorrupt) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "events salvage --spool "+path) {
				t.Fatalf("OpenDisk = %v, want %q refused with advice to salvage", err, want)
			}
			if b, _ := os.ReadFile(path); string(b) != string(damaged) {
				t.Fatalf("OpenDisk changed the file: %d bytes, were %d", len(b), len(damaged))
			}
			if _, err := List(path, Pending); !errors.Is(err, errCorrupt) {
				t.Fatalf("List = %v, want it refused too", err)
			}
			s, err := Salvage(path)
			if err != nil {
				t.Fatal(err)
			}
			if s.Tail != 0 || len(s.Damaged) == 0 || s.Damaged[0].Offset != int64(offs[first]) || s.Batches != first || s.Pending != first {
				t.Fatalf("Salvage = %+v: want %d batches kept and the rest from offset %d damaged, no tail", s, first, offs[first])
			}
		})
	}
}

// TestRecordSeqZero: a record numbered 0 (checksums intact; never
// written, as seqs start at 1) is a corrupt record: every reader of the
// file says so, naming it. (Found by FuzzSpoolFrames: the start took it
// as pending, the index gave it another seq, and Next waited for ever
// for that seq to be on disk, the event's key stuck with it.)
func TestRecordSeqZero(t *testing.T) {
	for _, kind := range []byte{frameRecord, frameFinished} {
		path := filepath.Join(t.TempDir(), "events.spool")
		buf, at := beginFrame(nil, kind)
		buf = appendRecord(buf, &Record{Event: Event{ID: "zero", Key: "call:1", Body: []byte(`{}`)}}, 0)
		if kind == frameFinished {
			buf = appendOutcome(buf, &outcome{State: Dead, Reason: "gone"})
		}
		endFrame(buf, at)
		if err := os.WriteFile(path, sealFrames(append([]byte{byte(len(buf) - frameHeader)}, buf[frameHeader:]...)), 0o600); err != nil {
			t.Fatal(err)
		}
		_, listErr := List(path, Pending)
		d, openErr := OpenDisk(DiskConfig{Path: path})
		if openErr == nil {
			d.Close()
			d.closeFile()
		}
		for what, err := range map[string]error{"List": listErr, "OpenDisk": openErr} {
			if !errors.Is(err, errCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "seq 0") {
				t.Errorf("kind %d: %s = %v, want a corrupt record numbered 0 in %s", kind, what, err, path)
			}
		}
	}
}
