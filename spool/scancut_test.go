package spool

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestScanFileCutBehindReader: a reader (events list, show) scans a spool
// whose unfinished last write a starting listen cuts off meanwhile. The
// bytes it had not read yet are gone, and the scan ends at the intact
// data, as if it had found the tail; it used to fail with "EOF" and ask
// for events salvage of a whole file.
func TestScanFileCutBehindReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	d, stop := openRunning(t, DiskConfig{Path: path})
	body := bytes.Repeat([]byte("x"), 8<<10)
	for i := range 300 { // 2.4 MiB: more than scan reads ahead at once
		appendSync(t, d, Event{ID: fmt.Sprint("id-", i), Key: fmt.Sprint("k", i), Body: body})
	}
	stop()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	intact := fi.Size()
	// An unfinished write: a batch header for 64 KiB, and half of it.
	torn := make([]byte, batchHeader+32<<10)
	copy(torn, batchMagic)
	binary.LittleEndian.PutUint32(torn[4:], 64<<10)
	binary.LittleEndian.PutUint32(torn[8:], 12345)
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(torn); err != nil {
		t.Fatal(err)
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cut, frames := false, 0
	end, err := scan(f, func(kind byte, payload []byte, at span) error {
		frames++
		if !cut { // listen starts, and cuts the tail off, as the scan begins
			cut = true
			if err := w.Truncate(intact); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan of a file whose tail was cut meanwhile: %v, want the intact data", err)
	}
	if end != intact || frames != 300 {
		t.Errorf("scan ended at %d with %d frames, want %d with 300", end, frames, intact)
	}
}
