package spool

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fill appends n events (each with a key of its own), all committed, to a
// running spool.
func fill(t *testing.T, d *Disk, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		appendSync(t, d, Event{ID: fmt.Sprint("id-", i), Key: fmt.Sprint("k", i), Body: []byte(fmt.Sprintf(`{"n":%d}`, i))})
	}
}

// TestDiskTornTail: a crash in the middle of a write leaves part of a frame
// at the end of the file. The next start reads every whole frame, cuts the
// rest off, and appends after it.
func TestDiskTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path})
	fill(t, d, 0, 3)
	stop()
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tail := range [][]byte{{0x20, 0, 0}, {0x20, 0, 0, 0, 1, 2, 3, 4, 1, 7}, make([]byte, 300)} {
		if err := os.WriteFile(path, append(append([]byte(nil), whole...), tail...), 0o600); err != nil {
			t.Fatal(err)
		}
		d, stop := openRunning(t, DiskConfig{Path: path})
		if d.Len() != 3 {
			t.Fatalf("tail %x: Len = %d after restart, want 3", tail, d.Len())
		}
		stop()
		if b, _ := os.ReadFile(path); string(b) != string(whole) {
			t.Fatalf("tail %x: file is %d bytes after start, want the %d whole bytes", tail, len(b), len(whole))
		}
	}
	d, stop = openRunning(t, DiskConfig{Path: path})
	fill(t, d, 3, 1)
	stop()
	if recs, err := List(path, Pending); err != nil || len(recs) != 4 || recs[3].ID != "id-3" {
		t.Fatalf("after appending past the cut tail: %d pending (%v), want 4 ending with id-3", len(recs), err)
	}
}

// TestDiskDamagedFrame: a frame damaged in the middle of the file is not a
// torn tail: the spool refuses to start with the file and the offset, and
// leaves the file as it is.
func TestDiskDamagedFrame(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path})
	fill(t, d, 0, 3)
	stop()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), `{"n":1}`)
	b[i+2] ^= 0xff
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = OpenDisk(DiskConfig{Path: path})
	if !errors.Is(err, errCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "offset") {
		t.Fatalf("OpenDisk = %v, want a corrupt-record error naming the file and the offset", err)
	}
	if _, err := List(path, Pending); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("List = %v, want an error naming the file", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(b) {
		t.Fatal("the damaged file was changed")
	}
}

// TestDiskCompacts: once garbage outweighs the live frames and passes
// CompactAfter, the file is rewritten with the live frames only: pending
// events (read back from disk meanwhile), dead letters and the delivered
// history all survive, byte for byte, and a restart finds them.
func TestDiskCompacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	cfg := DiskConfig{Path: path, CacheBytes: 1, KeepCount: 5, CompactAfter: 4 << 10}
	d, stop := openRunning(t, cfg)
	fill(t, d, 0, 2) // id-0 will die, id-1 stays pending
	dead := nextNow(t, d)
	d.Dead(dead, "400 Bad Request (not retried)", []Attempt{{At: time.Now(), Status: 400}})
	held := nextNow(t, d)
	var largest int64
	for round := range 20 {
		fill(t, d, 100+round*50, 50)
		for range 50 {
			ev := nextNow(t, d)
			if want := fmt.Sprintf(`{"n":%s}`, ev.ID[len("id-"):]); string(ev.Body) != want {
				t.Fatalf("read back %s as %q, want %q", ev.ID, ev.Body, want)
			}
			d.Ack(ev, []Attempt{{At: time.Now(), Status: 204}})
		}
		if fi, err := os.Stat(path); err == nil {
			largest = max(largest, fi.Size())
		}
	}
	d.Release(held)
	stop()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 3*cfg.CompactAfter || largest > 4*cfg.CompactAfter {
		t.Fatalf("file %d bytes at the end, %d at most, after 1000 delivered events; want compaction to keep it near %d", fi.Size(), largest, cfg.CompactAfter)
	}
	if _, err := os.Stat(path + compactSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a compaction file was left behind: %v", err)
	}
	pending, deadRecs, delivered := mustList(t, path, Pending), mustList(t, path, Dead), mustList(t, path, Delivered)
	if ids(pending) != "id-1" || ids(deadRecs) != "id-0" || len(delivered) != 5 || string(pending[0].Body) != `{"n":1}` {
		t.Fatalf("after compaction: pending %q, dead %q, %d delivered; want id-1, id-0 and 5", ids(pending), ids(deadRecs), len(delivered))
	}
	d, stop = openRunning(t, cfg)
	if ev := nextNow(t, d); ev.ID != "id-1" || string(ev.Body) != `{"n":1}` {
		t.Fatalf("after restart got %s %q, want id-1", ev.ID, ev.Body)
	}
	stop()
}

// TestDiskKeepsNoHistory: with a negative KeepCount, delivered events are
// forgotten, whether delivered before or after their append was written.
func TestDiskKeepsNoHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path, KeepCount: -1, CommitInterval: 20 * time.Millisecond})
	fill(t, d, 0, 3) // written, then acked
	for range 3 {
		d.Ack(nextNow(t, d), nil)
	}
	for i := range 3 { // acked before their batch is written
		if err := d.Append(Event{ID: fmt.Sprint("late-", i), Key: "k", Body: []byte("{}")}, nil); err != nil {
			t.Fatal(err)
		}
		d.Ack(nextNow(t, d), nil)
	}
	stop()
	if n := len(mustList(t, path, Delivered)) + len(mustList(t, path, Pending)); n != 0 {
		t.Fatalf("%d records kept, want none", n)
	}
}

// TestPurgeThenRestart: purged dead letters stay gone after the agent
// starts again and compacts.
func TestPurgeThenRestart(t *testing.T) {
	f := newFixture(t, fixtureEvent{"dead-1", "call:1", "dead"}, fixtureEvent{"kept-1", "call:2", "pending"})
	if n, err := Purge(f.path, Dead); err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v; want 1", n, err)
	}
	d, stop := openRunning(t, DiskConfig{Path: f.path})
	if d.Len() != 1 {
		t.Fatalf("Len = %d after purge, want the 1 pending", d.Len())
	}
	stop()
	if dead := mustList(t, f.path, Dead); len(dead) != 0 {
		t.Fatalf("dead after purge and restart: %q", ids(dead))
	}
}

// TestDiskDamagedBatchLength: a damaged length in the middle of the file
// (which makes the batch seem to run past the end, as a torn write does)
// is refused, not taken for a torn tail: intact batches follow it.
func TestDiskDamagedBatchLength(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path})
	fill(t, d, 0, 10)
	stop()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first := len(fileHeader)
	b[first+7] ^= 0x40 // the high byte of the first batch's length
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDisk(DiskConfig{Path: path}); !errors.Is(err, errCorrupt) || !strings.Contains(err.Error(), "offset 16") {
		t.Fatalf("OpenDisk = %v, want the damaged batch at offset 16 refused", err)
	}
	if after, _ := os.ReadFile(path); len(after) != len(b) {
		t.Fatalf("file cut from %d to %d bytes", len(b), len(after))
	}
}

// TestDiskPowerCutInLastBatch: a power cut can leave the last batch (never
// synced) with a hole of zeros before bytes that did reach the disk. The
// next start cuts that batch off, says so, and keeps every event before.
func TestDiskPowerCutInLastBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path})
	fill(t, d, 0, 3)
	stop()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d, stop = openRunning(t, DiskConfig{Path: path, CommitInterval: time.Hour})
	for i := range 20 { // one batch: the first is written at once, the rest after the hour
		if err := d.Append(Event{ID: fmt.Sprint("late-", i), Key: fmt.Sprint("late", i), Body: []byte(`{"late":true}`)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Find the last batch and zero a stretch in its middle.
	last := strings.LastIndex(string(after), batchMagic)
	if last < len(before) {
		t.Fatalf("no batch after the first %d bytes", len(before))
	}
	mid := last + (len(after)-last)/2
	for i := mid - 20; i < mid+20; i++ {
		after[i] = 0
	}
	if err := os.WriteFile(path, after, 0o600); err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	d, stop = openRunning(t, DiskConfig{Path: path, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	n := d.Len()
	stop()
	if n < 3 || n > 4 {
		t.Fatalf("Len = %d after the cut, want the 3 first events (and the first late one, in a batch of its own)", n)
	}
	if !strings.Contains(logged.String(), "cutting off an unfinished write") {
		t.Fatalf("nothing logged about the cut: %q", logged.String())
	}
}

// TestDiskFormatVersions: a version 3 file (before attempt frames) is read
// and raised to the current version when opened for writing; a newer one
// is refused with a message that says so.
func TestDiskFormatVersions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path})
	fill(t, d, 0, 2)
	stop()
	at := int64(len(fileHeader) - 1)
	setVersion := func(v byte) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt([]byte{v}, at); err != nil {
			t.Fatal(err)
		}
	}

	setVersion(3)
	if recs := mustList(t, path, Pending); len(recs) != 2 {
		t.Fatalf("version 3 file: %d pending, want 2", len(recs))
	}
	d, stop = openRunning(t, DiskConfig{Path: path})
	ev := nextNow(t, d)
	d.Tried(ev, []Attempt{{At: time.Now(), Status: 503}})
	d.Release(ev)
	stop()
	head, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(head[:len(fileHeader)], fileHeader) {
		t.Fatalf("header after writing %q, want %q", head[:len(fileHeader)], fileHeader)
	}

	setVersion(fileHeader[at] + 1)
	_, err = OpenDisk(DiskConfig{Path: path})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "use a newer dialpad-tunnel") {
		t.Fatalf("OpenDisk of a newer format = %v, want an error naming the file and saying so", err)
	}
	if _, err := List(path, Pending); err == nil || !strings.Contains(err.Error(), "use a newer dialpad-tunnel") {
		t.Fatalf("List of a newer format = %v, want the same", err)
	}
}

// TestDiskThroughSymlinkCompacts: a spool path that is a symbolic link
// (dangling until the spool is made, and relative) keeps pointing at the
// spool through compactions: the rewrite replaces the file it names, not
// the link. (A black-box review saw the link replaced by a plain file,
// and the file it named left stale, its delivered events still pending.)
func TestDiskThroughSymlinkCompacts(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "real"), 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "events.spool")
	if err := os.Symlink(filepath.Join("real", "events.spool"), link); err != nil {
		t.Fatal(err)
	}
	cfg := DiskConfig{Path: link, CacheBytes: 1, KeepCount: -1, CompactAfter: 4 << 10}
	d, stop := openRunning(t, cfg)
	for round := range 10 {
		fill(t, d, round*50, 50)
		for range 50 {
			d.Ack(nextNow(t, d), []Attempt{{At: time.Now(), Status: 204}})
		}
	}
	fill(t, d, 1000, 1) // stays pending
	stop()
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the spool's path is no longer a link (%v, %v)", fi.Mode(), err)
	}
	fi, err := os.Stat(link)
	if err != nil || fi.Size() > 3*cfg.CompactAfter {
		t.Fatalf("spool of %d bytes (%v) after 500 delivered events; want compaction to have rewritten the file the link names", fi.Size(), err)
	}
	if pending := mustList(t, link, Pending); ids(pending) != "id-1000" {
		t.Fatalf("pending through the link: %q, want id-1000", ids(pending))
	}
}

// TestRealPath: a link's relative target is read from the folder the link
// really is in (its ".." as the kernel takes it, through a linked folder),
// and a link into a folder that is not there is left as it is, so opening
// it fails instead of making that folder.
func TestRealPath(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"a", "b/c", "b/real"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// a/sub is b/c; b/c/events.spool is ../real/events.spool, that is b/real.
	if err := os.Symlink(filepath.Join(dir, "b", "c"), filepath.Join(dir, "a", "sub")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..", "real", "events.spool"), filepath.Join(dir, "b", "c", "events.spool")); err != nil {
		t.Fatal(err)
	}
	if got, want := realPath(filepath.Join(dir, "a", "sub", "events.spool")), filepath.Join(dir, "b", "real", "events.spool"); got != want {
		t.Errorf("realPath through a linked folder = %s, want %s", got, want)
	}
	missing := filepath.Join(dir, "missing.spool")
	if err := os.Symlink(filepath.Join(dir, "unmounted", "events.spool"), missing); err != nil {
		t.Fatal(err)
	}
	if got := realPath(missing); got != missing {
		t.Errorf("realPath of a link into a missing folder = %s, want it unchanged", got)
	}
	if _, err := OpenDisk(DiskConfig{Path: missing}); err == nil {
		t.Error("OpenDisk through a link into a missing folder succeeded, want an error")
	} else if !strings.Contains(err.Error(), "is a symbolic link to ") || !strings.Contains(err.Error(), "whose folder is not there") {
		// It said only "open …: no such file or directory" of a link
		// that is there.
		t.Errorf("OpenDisk through a link into a missing folder: %v, want it to say the link's folder is not there", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "unmounted")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the missing folder was made: %v", err)
	}
}

// TestOpenDiskLinkChainIntoMissingFolder: a link that leads, through a
// second link (relative, in a folder that is there), into a folder that
// is not, is refused naming the target whose folder is missing, not the
// first link's target (whose folder is there: "fix the link" then pointed
// at the wrong one).
func TestOpenDiskLinkChainIntoMissingFolder(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "events.spool"), filepath.Join(dir, "next.spool")
	gone := filepath.Join(dir, "unmounted", "events.spool")
	if err := os.Symlink("next.spool", first); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	if err := os.Symlink(gone, second); err != nil {
		t.Fatal(err)
	}
	_, err := OpenDisk(DiskConfig{Path: first})
	want := "spool: " + first + ": is a symbolic link to " + gone + ", whose folder is not there"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("OpenDisk through two links into a missing folder: %v\nwant %s…", err, want)
	}
}

// TestCompactionLetsWritesThrough: a compaction runs beside the writes.
// While it copies, events are appended and stored, read back, delivered
// and given up on; once it is done every record is in the new file where
// the spool looks for it, and a restart finds each in its state.
func TestCompactionLetsWritesThrough(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	gate := make(chan struct{})
	cfg := DiskConfig{Path: path, CacheBytes: 1, KeepCount: 5, CompactAfter: 4 << 10, compactGate: gate}
	d, stop := openRunning(t, cfg)
	fill(t, d, 0, 3) // copied by the compaction: id-0 dies during it, id-1 is delivered after it, id-2 stays pending
	early := []Event{nextNow(t, d), nextNow(t, d), nextNow(t, d)}
	d.Tried(early[1], []Attempt{{At: time.Now(), Status: 503}})
	deliver := func(want int) {
		t.Helper()
		ev := nextNow(t, d)
		if body := fmt.Sprintf(`{"n":%d}`, want); ev.ID != fmt.Sprint("id-", want) || string(ev.Body) != body {
			t.Fatalf("read back %s as %q, want id-%d as %q", ev.ID, ev.Body, want, body)
		}
		d.Ack(ev, []Attempt{{At: time.Now(), Status: 204}})
	}
	for round := 0; ; round++ { // garbage until a compaction begins and holds
		if round == 40 {
			t.Fatal("no compaction after 2,000 delivered events")
		}
		fill(t, d, 100+round*50, 50)
		for i := range 50 {
			deliver(100 + round*50 + i)
		}
		select {
		case <-gate:
		default:
			continue
		}
		break
	}
	// The copy is done and held: the spool goes on.
	fill(t, d, 10000, 10) // each stored (appendSync waits for its sync)
	d.Dead(early[0], "400 Bad Request (not retried)", []Attempt{{At: time.Now(), Status: 400}})
	for i := range 5 {
		deliver(10000 + i)
	}
	if _, err := os.Stat(path + compactSuffix); err != nil {
		t.Fatalf("compaction file while the compaction is held: %v", err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	gate <- struct{}{}
	letGo(t, gate) // later compactions, which the deliveries below may start
	for deadline := time.Now().Add(10 * time.Second); ; {
		if now, err := os.Stat(path); err == nil && !os.SameFile(before, now) {
			break // the compacted file took the path
		}
		if time.Now().After(deadline) {
			t.Fatal("compaction not finished 10s after it was let go")
		}
		time.Sleep(time.Millisecond) // polls a condition with a deadline
	}
	d.Ack(early[1], []Attempt{{At: time.Now(), Status: 204}})
	for i := 5; i < 10; i++ { // stored during the compaction, read back from the new file
		deliver(10000 + i)
	}
	d.Release(early[2])
	stop()

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 3*cfg.CompactAfter {
		t.Fatalf("file %d bytes after the compaction; want it near %d", fi.Size(), cfg.CompactAfter)
	}
	pending, deadRecs, delivered := mustList(t, path, Pending), mustList(t, path, Dead), mustList(t, path, Delivered)
	if ids(pending) != "id-2" || string(pending[0].Body) != `{"n":2}` || ids(deadRecs) != "id-0" || len(delivered) != 5 {
		t.Fatalf("after the compaction: pending %q, dead %q, %d delivered; want id-2, id-0 and 5", ids(pending), ids(deadRecs), len(delivered))
	}
	if deadRecs[0].Reason != "400 Bad Request (not retried)" {
		t.Fatalf("dead letter's reason %q", deadRecs[0].Reason)
	}
	d, stop = openRunning(t, cfg)
	if ev := nextNow(t, d); ev.ID != "id-2" || string(ev.Body) != `{"n":2}` {
		t.Fatalf("after restart got %s %q, want id-2", ev.ID, ev.Body)
	}
}

// TestStopAbandonsCompaction: a spool stopping in the middle of a
// compaction drops it: its file is removed, and the spool file, as it
// was, holds every record.
func TestStopAbandonsCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	gate := make(chan struct{})
	cfg := DiskConfig{Path: path, KeepCount: 5, CompactAfter: 4 << 10, compactGate: gate}
	d, stop := openRunning(t, cfg)
	fill(t, d, 0, 1) // stays pending
	held := nextNow(t, d)
	holdCompaction(t, d, gate, 1)
	d.Release(held)
	stop() // while the compaction is held
	if _, err := os.Stat(path + compactSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("compaction file after the stop: %v, want it removed", err)
	}
	if pending, delivered := mustList(t, path, Pending), mustList(t, path, Delivered); ids(pending) != "id-0" || len(delivered) != 5 {
		t.Fatalf("after the stop: pending %q, %d delivered; want id-0 and 5", ids(pending), len(delivered))
	}
}

// letGo lets every later compaction through gate, until the test ends,
// on a goroutine of its own.
func letGo(t *testing.T, gate chan struct{}) {
	quit := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(quit); <-done })
	go func() {
		defer close(done)
		for {
			select {
			case <-gate:
				select {
				case gate <- struct{}{}:
				case <-quit:
					return
				}
			case <-quit:
				return
			}
		}
	}()
}

// holdCompaction appends and delivers events (id-from on, one at a time)
// until a compaction has copied the file and waits at gate (see copyLive),
// and returns then; the caller lets it go with a send on gate, or stops.
func holdCompaction(t *testing.T, d *Disk, gate chan struct{}, from int) {
	t.Helper()
	for i := from; ; i++ {
		if i == from+2000 {
			t.Fatal("no compaction after 2,000 delivered events")
		}
		fill(t, d, i, 1)
		d.Ack(nextNow(t, d), nil)
		select {
		case <-gate:
			return
		default:
		}
	}
}

// TestDiskCompactsEarlyOnSmallDisk: on a volume smaller than CompactAfter
// (here 3 MiB, as the file system reports it), the garbage is compacted
// once the disk has less room left than it, not left to fill the disk
// (a full disk has no room for the compaction that would free it: a
// black-box review saw a 4 MiB volume fill with 89% garbage and reading
// paused for good).
func TestDiskCompactsEarlyOnSmallDisk(t *testing.T) {
	const volume = 3 << 20
	path := filepath.Join(t.TempDir(), "events.spool")
	var looks atomic.Int32
	cfg := DiskConfig{Path: path, KeepCount: 5, diskFree: func(dir string) (int64, bool) {
		looks.Add(1)
		if dir != filepath.Dir(path) {
			t.Errorf("free space asked of %s, want the spool's directory", dir)
		}
		fi, err := os.Stat(path)
		if err != nil {
			return 0, false
		}
		return volume - fi.Size(), true
	}}
	d, stop := openRunning(t, cfg)
	body := bytes.Repeat([]byte("x"), 4<<10)
	var largest int64
	for i := range 1500 { // 6 MiB of events, delivered as they come
		appendSync(t, d, Event{ID: fmt.Sprint("id-", i), Key: fmt.Sprint("k", i), Body: body})
		d.Ack(nextNow(t, d), nil)
		if fi, err := os.Stat(path); err == nil {
			largest = max(largest, fi.Size())
		}
	}
	stop()
	if largest >= volume {
		t.Fatalf("the file reached %d bytes on a %d-byte volume: not compacted early", largest, volume)
	}
	// One look per spaceCheckBytes written (about 25 here), and one per
	// commit only while the disk has less than roomLow left, before a
	// compaction frees it: how many commits that takes depends on the
	// machine's load (a loaded CI run looked 26 times). Looking at every
	// commit would be 1,500 looks or more.
	if n := looks.Load(); n > 1500/16 {
		t.Errorf("the free space was looked at %d times for 1,500 commits of 6 MiB, want about one look per %d bytes written", n, spaceCheckBytes)
	}
	if delivered := mustList(t, path, Delivered); len(delivered) != 5 {
		t.Errorf("%d delivered events kept, want 5", len(delivered))
	}
}
