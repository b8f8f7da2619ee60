package filelock

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLock: a file locked through one open file is busy through another
// (as in another process) until the first is closed; a wait ends with
// ErrBusy, or with its context.
func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.lock")
	open := func() *os.File {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	first, second := open(), open()
	if err := Lock(context.Background(), first, 0); err != nil {
		t.Fatalf("first lock: %v", err)
	}
	if err := Lock(context.Background(), second, 0); !errors.Is(err, ErrBusy) {
		t.Fatalf("second lock, no wait: %v, want ErrBusy", err)
	}
	if err := Lock(context.Background(), second, 30*time.Millisecond); !errors.Is(err, ErrBusy) {
		t.Fatalf("second lock after its wait: %v, want ErrBusy", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Lock(ctx, second, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("second lock, cancelled: %v, want context.Canceled", err)
	}
	first.Close()
	if err := Lock(context.Background(), second, time.Hour); err != nil {
		t.Fatalf("second lock once the first is closed: %v", err)
	}
}
