package spool

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestFillCountsReplayBodies: a commit takes replays up to about
// maxBatchBytes of their bodies, as it does appends. A replay's op carries
// its body in its record: counted as nothing, a live replay of large dead
// letters made one batch of them all, past maxPayload, which the next
// start took for a torn write and cut off, replays and stored events with
// it (found by review).
func TestFillCountsReplayBodies(t *testing.T) {
	d := &Disk{cfg: DiskConfig{MaxBatch: 256}, ops: make(chan op, 16)}
	body := make([]byte, 8<<20)
	for i := range 10 {
		d.ops <- op{kind: opReplay, ev: Event{Seq: uint64(i + 1)}, admin: &adminOp{rec: &Record{Event: Event{Body: body}}}}
	}
	batch := d.fill(nil, 0)
	size := 0
	for i := range batch {
		size += len(batch[i].admin.rec.Body)
	}
	if len(batch) == 0 || size > maxBatchBytes+len(body) {
		t.Fatalf("a batch of %d replays, %d MiB of bodies; want at most %d MiB + one body", len(batch), size>>20, maxBatchBytes>>20)
	}
}

// TestOfflineReplayWritesBoundedBatches: `events replay` (spool.Replay)
// writes its records in batches of about maxBatchBytes, not in one batch
// however large the dead letters (past maxPayload, the next start cuts it
// off as torn: every replay lost), and the next start finds them all
// pending, bodies intact.
func TestOfflineReplayWritesBoundedBatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	const n, size = 4, 12 << 20
	d, stop := openRunning(t, DiskConfig{Path: path, CacheBytes: 1})
	for i := range n {
		appendSync(t, d, Event{ID: fmt.Sprintf("id-%04d", i), Key: fmt.Sprint("k", i), Body: bytes.Repeat([]byte{byte('a' + i)}, size)})
		d.Dead(nextNow(t, d), "refused", nil)
	}
	stop()
	if res, err := Replay(path, Selection{Dead: true}); err != nil || res.N != n {
		t.Fatalf("Replay = %+v, %v; want %d replayed", res, err, n)
	}
	for _, p := range batchPayloads(t, path) {
		if p > maxBatchBytes+size+1<<20 {
			t.Errorf("a batch of %d MiB; want at most %d MiB + one event", p>>20, maxBatchBytes>>20)
		}
	}
	d2, err := OpenDisk(DiskConfig{Path: path, CacheBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.closeFile()
	if got := d2.Stored(); got != n {
		t.Fatalf("%d pending after the replay, want %d", got, n)
	}
}

// batchPayloads returns the payload length of each batch in the file.
func batchPayloads(t *testing.T, path string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lens []int
	for off := len(fileHeader); off+batchHeader <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off+4:]))
		lens = append(lens, n)
		off += batchHeader + n
	}
	return lens
}
