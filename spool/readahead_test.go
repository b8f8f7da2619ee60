package spool

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestDiskReadsBackInBlocks: a backlog whose bodies are not kept in memory
// is read back a block at a time, not one read per event, and every body
// comes back exactly, also when the same bytes are asked for again (a key's
// later event, handed out after its neighbours).
func TestDiskReadsBackInBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, _ := openRunning(t, DiskConfig{Path: path, CacheBytes: 1})
	const n = 300
	body := func(i int) []byte {
		return fmt.Appendf(nil, `{"n":%d,"pad":"%s"}`, i, bytes.Repeat([]byte{'a' + byte(i%26)}, 1000))
	}
	for i := range n {
		// Keys k0..k9 each hold 30 events: each key's next event is handed
		// out only once its previous one is done.
		ev := Event{ID: fmt.Sprint("id-", i), Key: fmt.Sprint("k", i%10), Body: body(i)}
		if i == n-1 {
			appendSync(t, d, ev) // commits the whole backlog
			continue
		}
		if err := d.Append(ev, nil); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		ev := nextNow(t, d)
		var i int
		fmt.Sscanf(ev.ID, "id-%d", &i)
		if !bytes.Equal(ev.Body, body(i)) {
			t.Fatalf("event %s read back as %q…, want %q…", ev.ID, ev.Body[:20], body(i)[:20])
		}
		d.Ack(ev, []Attempt{{At: time.Now(), Status: 200}})
	}
	d.ahead.mu.Lock()
	reads := d.ahead.reads
	d.ahead.mu.Unlock()
	if reads > n/10 { // 1 KiB events: a 64 KiB block holds some fifty
		t.Fatalf("%d events read back with %d reads of the file, want at most %d", n, reads, n/10)
	}
	t.Logf("%d events read back with %d reads of the file", n, reads)
}
