package spool

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// damagedSpool fills a spool with ten events, each committed in a batch
// of its own (id-0 … id-9), makes id-3 dead and id-5 delivered, adds
// id-10, and returns its bytes as written.
func damagedSpool(t *testing.T) (path string, whole []byte) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path, KeepCount: 100})
	fill(t, d, 0, 10)
	for range 6 {
		ev := nextNow(t, d)
		switch ev.ID {
		case "id-3":
			d.Dead(ev, "400 Bad Request (not retried)", []Attempt{{At: time.Now(), Status: 400}})
		case "id-5":
			d.Ack(ev, []Attempt{{At: time.Now(), Status: 204}})
		default:
			d.Release(ev)
		}
	}
	stop()
	// A batch after the outcomes', so that theirs is not the last.
	d, stop = openRunning(t, DiskConfig{Path: path, KeepCount: 100})
	fill(t, d, 10, 1)
	stop()
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, whole
}

// flip returns b with one byte of the first occurrence of s changed.
func flip(t *testing.T, b []byte, s string) []byte {
	t.Helper()
	i := bytes.Index(b, []byte(s))
	if i < 0 {
		t.Fatalf("%q not in the file", s)
	}
	out := bytes.Clone(b)
	out[i+2] ^= 0xff
	return out
}

// TestSalvage: a batch damaged in the middle of the file stops the spool
// from opening, with advice to salvage it. Salvage keeps every intact
// batch: only the event recorded in the damaged one is gone, the others
// keep their states, the file as it was is kept next to it, and the
// spool opens again and takes new events.
func TestSalvage(t *testing.T) {
	path, whole := damagedSpool(t)
	damaged := flip(t, whole, `{"n":1}`)
	if err := os.WriteFile(path, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDisk(DiskConfig{Path: path}); err == nil || !strings.Contains(err.Error(), "events salvage --spool "+path) {
		t.Fatalf("OpenDisk = %v, want advice to salvage the file", err)
	}

	s, err := Salvage(path)
	if err != nil {
		t.Fatalf("Salvage: %v", err)
	}
	at := int64(bytes.Index(whole, []byte(`{"n":1}`)))
	if len(s.Damaged) != 1 || s.Damaged[0].Offset > at || s.Damaged[0].Offset+s.Damaged[0].Bytes <= at || s.Tail != 0 {
		t.Fatalf("damaged regions %+v, tail %d: want one region around offset %d", s.Damaged, s.Tail, at)
	}
	if s.Pending != 8 || s.Dead != 1 || s.Delivered != 1 {
		t.Errorf("pending %d, dead %d, delivered %d: want 8, 1, 1", s.Pending, s.Dead, s.Delivered)
	}
	if s.Kept+s.Damaged[0].Bytes != int64(len(damaged)-len(fileHeader)) {
		t.Errorf("kept %d and skipped %d bytes of %d", s.Kept, s.Damaged[0].Bytes, len(damaged)-len(fileHeader))
	}
	if kept, err := os.ReadFile(s.Original); err != nil || !bytes.Equal(kept, damaged) {
		t.Fatalf("the file as it was is not kept at %q: %v", s.Original, err)
	}
	if _, err := os.Stat(path + salvageSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the salvage's own file is left: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("salvaged file: %v, mode %v, want 0600", err, fi.Mode().Perm())
	}

	if got := ids(mustList(t, path, Pending)); got != "id-0 id-2 id-4 id-6 id-7 id-8 id-9 id-10" {
		t.Errorf("pending after salvage: %s", got)
	}
	if got := ids(mustList(t, path, Dead)); got != "id-3" {
		t.Errorf("dead after salvage: %s", got)
	}
	if got := ids(mustList(t, path, Delivered)); got != "id-5" {
		t.Errorf("delivered after salvage: %s", got)
	}
	d, stop := openRunning(t, DiskConfig{Path: path, KeepCount: 100})
	fill(t, d, 11, 1)
	stop()
	if got := ids(mustList(t, path, Pending)); got != "id-0 id-2 id-4 id-6 id-7 id-8 id-9 id-10 id-11" {
		t.Errorf("pending after a new event: %s", got)
	}

	// Whole now: a second salvage changes nothing.
	before, _ := os.ReadFile(path)
	s, err = Salvage(path)
	if err != nil || s.Changed() || len(s.Damaged) != 0 {
		t.Fatalf("second Salvage = %+v, %v: want nothing changed", s, err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a whole file was changed")
	}
}

// A lost outcome makes its event pending again: delivered twice rather
// than lost. A damaged header is skipped like any damaged stretch, and a
// second damaged file is kept under a name of its own.
func TestSalvageOutcomeAndHeader(t *testing.T) {
	path, whole := damagedSpool(t)
	// id-3's dead letter is in a batch after its event's.
	i := bytes.LastIndex(whole, []byte("400 Bad Request"))
	damaged := bytes.Clone(whole)
	damaged[i] ^= 0xff
	damaged[3] ^= 0xff // the header
	if err := os.WriteFile(path, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".damaged", []byte("an earlier salvage"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Salvage(path)
	if err != nil {
		t.Fatalf("Salvage: %v", err)
	}
	if len(s.Damaged) != 2 || s.Damaged[0].Offset != 0 {
		t.Errorf("damaged regions %+v, want the header's and the outcome's", s.Damaged)
	}
	if !strings.HasPrefix(s.Original, path+".damaged-") {
		t.Errorf("kept as %q, want a name of its own", s.Original)
	}
	if got := ids(mustList(t, path, Pending)); !strings.Contains(got, "id-3") || s.Dead != 0 {
		t.Errorf("pending %s, dead %d: want id-3 pending again", got, s.Dead)
	}
}

// Salvage refuses what it cannot help: a file that is not a spool, a file
// in use, and one from a newer version; it changes none of them.
func TestSalvageRefuses(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("not a spool at all\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Salvage(text); err == nil || !strings.Contains(err.Error(), "not a dialpad-tunnel spool") {
		t.Errorf("Salvage(text file) = %v, want not a spool", err)
	}
	if _, err := Salvage(filepath.Join(dir, "missing.spool")); err == nil || !strings.Contains(err.Error(), "no such spool file") {
		t.Errorf("Salvage(missing) = %v", err)
	}
	empty := filepath.Join(dir, "empty.spool") // a crash right after creating it: an empty spool
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Salvage(empty); err != nil || s.Changed() {
		t.Errorf("Salvage(empty file) = %+v, %v: want it read as an empty spool, unchanged", s, err)
	}

	path, whole := damagedSpool(t)
	newer := newerSpool(whole, fileHeader[len(fileHeader)-1]+1)
	if err := os.WriteFile(path, newer, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Salvage(path); err == nil || !strings.Contains(err.Error(), "use a newer dialpad-tunnel") {
		t.Errorf("Salvage(newer format) = %v", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, newer) {
		t.Errorf("Salvage(newer format) changed the file")
	}
	if err := os.WriteFile(path, flip(t, whole, `{"n":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	held, err := openLocked(path, false, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Salvage(path); !errors.Is(err, ErrLocked) {
		t.Errorf("Salvage(in use) = %v, want ErrLocked", err)
	}
	held.Close()
	for _, p := range []string{text, path} {
		if entries, _ := filepath.Glob(p + ".*"); len(entries) > 0 {
			t.Errorf("files left next to %s: %v", p, entries)
		}
	}
}

// TestLongName: a spool file whose name leaves no room for the suffix of
// its work files (compaction's, salvage's) is refused by OpenDisk and
// Salvage, with the name's length and the limit, before anything is made
// (it used to open, and every compaction failed: the file grew without
// bound). The longest name allowed opens, compacts and salvages; a second
// salvage, whose dated name for the damaged file would not fit, says to
// move the first one away.
func TestLongName(t *testing.T) {
	dir := t.TempDir()
	long := filepath.Join(dir, strings.Repeat("s", 252-len(".spool"))+".spool")
	_, err := OpenDisk(DiskConfig{Path: long})
	for _, want := range []string{long, "252 bytes", "limit of 255 bytes", "shorter --spool name, of at most 247 bytes"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("OpenDisk of a 252-byte name = %v, want an error with %q", err, want)
		}
	}
	if _, err := os.Stat(long); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenDisk refused the name but made the file: %v", err)
	}
	if err := os.WriteFile(long, []byte(fileHeader), 0o600); err != nil {
		t.Fatal(err) // made by an earlier version
	}
	if _, err := Salvage(long); err == nil || !strings.Contains(err.Error(), "252 bytes") {
		t.Fatalf("Salvage of a 252-byte name = %v, want it refused", err)
	}

	most := filepath.Join(dir, strings.Repeat("m", maxName-workSuffix-len(".spool"))+".spool")
	cfg := DiskConfig{Path: most, KeepCount: 5, CompactAfter: 4 << 10}
	d, stop := openRunning(t, cfg)
	for round := range 10 {
		fill(t, d, round*50, 50)
		for range 50 {
			d.Ack(nextNow(t, d), []Attempt{{At: time.Now(), Status: 204}})
		}
	}
	stop()
	if fi, err := os.Stat(most); err != nil || fi.Size() > 3*cfg.CompactAfter {
		t.Fatalf("a %d-byte name, after 500 delivered events: %v, want compaction to keep it near %d bytes", len(filepath.Base(most)), err, cfg.CompactAfter)
	}
	_, whole := damagedSpool(t)
	if err := os.WriteFile(most, flip(t, whole, `{"n":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Salvage(most); err != nil {
		t.Fatalf("Salvage of a %d-byte name: %v", len(filepath.Base(most)), err)
	}
	if err := os.WriteFile(most, flip(t, whole, `{"n":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Salvage(most); err == nil || !strings.Contains(err.Error(), most+damagedSuffix+" is there already") {
		t.Fatalf("second Salvage = %v, want advice to move the first damaged file away", err)
	}
}

// newerSpool returns the spool file whole as a newer dialpad-tunnel could
// write it: its header gives format v, and its last batch holds a frame
// of a kind this one does not know.
func newerSpool(whole []byte, v byte) []byte {
	b := bytes.Clone(whole)
	b[len(fileHeader)-1] = v
	frame, at := beginFrame(nil, frameTried+1)
	frame = append(frame, "of a later format"...)
	endFrame(frame, at)
	b, at = beginBatch(b)
	b = append(b, frame...)
	sealBatch(b, at)
	return b
}

// TestSalvageDamagedFormatByte: one damaged byte in the header's format
// version (a black-box review set it to 0x5c, 7 and 255) makes every
// command refuse the file as possibly newer. The message says it may be
// damaged instead, and points to salvage; salvage takes the header for
// damaged when everything after it reads as the current format, and
// keeps every event. A file with such a header that does not read whole
// (a newer format, or damaged twice) is still refused, unchanged.
func TestSalvageDamagedFormatByte(t *testing.T) {
	for _, v := range []byte{0x5c, fileHeader[len(fileHeader)-1] + 1, 255} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			path, whole := damagedSpool(t)
			damaged := bytes.Clone(whole)
			damaged[len(fileHeader)-1] = v
			if err := os.WriteFile(path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("written by a newer dialpad-tunnel, or damaged: its header gives format %d", v)
			for what, err := range map[string]error{
				"OpenDisk": func() error { _, err := OpenDisk(DiskConfig{Path: path}); return err }(),
				"List":     func() error { _, err := List(path, Pending); return err }(),
			} {
				if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "events salvage --spool "+path) {
					t.Fatalf("%s = %v, want %q and advice to salvage", what, err, want)
				}
			}

			s, err := Salvage(path)
			if err != nil {
				t.Fatalf("Salvage = %v, want the header skipped as damaged", err)
			}
			if len(s.Damaged) != 1 || s.Damaged[0] != (Region{0, int64(len(fileHeader))}) || s.Tail != 0 || !s.Changed() {
				t.Fatalf("Salvage = %+v, want only the header skipped", s)
			}
			if s.Pending != 9 || s.Dead != 1 || s.Delivered != 1 {
				t.Fatalf("pending %d, dead %d, delivered %d after salvage: want 9, 1, 1", s.Pending, s.Dead, s.Delivered)
			}
			if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, whole) {
				t.Fatalf("salvaged file differs from the file before its header was damaged (%v)", err)
			}

			for name, b := range map[string][]byte{
				"a frame of an unknown kind": newerSpool(whole, v),
				"a damaged batch too":        flip(t, damaged, `{"n":1}`),
			} {
				if err := os.WriteFile(path, b, 0o600); err != nil {
					t.Fatal(err)
				}
				if _, err := Salvage(path); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "use a newer dialpad-tunnel; nothing changed") {
					t.Errorf("Salvage(format %d and %s) = %v, want it refused as a newer format", v, name, err)
				}
				if after, _ := os.ReadFile(path); !bytes.Equal(after, b) {
					t.Errorf("Salvage(format %d and %s) changed the file", v, name)
				}
			}
		})
	}
}
