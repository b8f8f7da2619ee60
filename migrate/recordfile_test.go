package migrate_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/filelock"
	"github.com/dialpad-tunnel/dialpad-tunnel/migrate"
)

// TestLockRecord: a record's lock is refused, naming the record and
// wrapping ErrRecordLocked, while another holds it, and taken again once
// it is let go.
func TestLockRecord(t *testing.T) {
	if !filelock.Supported {
		t.Skip("no file lock on this system")
	}
	record := filepath.Join(t.TempDir(), "m.json")
	unlock, err := migrate.LockRecord(record)
	if err != nil {
		t.Fatal(err)
	}
	_, err = migrate.LockRecord(record)
	if !errors.Is(err, migrate.ErrRecordLocked) || !strings.Contains(err.Error(), record) {
		t.Fatalf("second lock: %v, want ErrRecordLocked naming %s", err, record)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	unlock, err = migrate.LockRecord(record)
	if err != nil {
		t.Fatalf("lock once let go: %v", err)
	}
	unlock()
}

// TestRetireRecord: a record is retired after the highest retired name
// (a gap below it is not filled), no file is replaced, names that only
// look alike are not counted, and LastRetired names the latest.
func TestRetireRecord(t *testing.T) {
	dir := t.TempDir()
	record := filepath.Join(dir, "m.json")
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := migrate.LastRetired(record); got != "" {
		t.Errorf("LastRetired with none: %q", got)
	}
	write("m.json", "first")
	if got, err := migrate.RetireRecord(record); err != nil || got != record+".rolled-back" {
		t.Fatalf("first retire: %q, %v", got, err)
	}
	for _, name := range []string{"m.json.rolled-back.3", "m.json.rolled-back.07", "m.json.rolled-back.x", "m.json.rolled-back.9.tmp", "m.json.lock", "other.json.rolled-back.8"} {
		write(name, name)
	}
	os.Remove(record + ".rolled-back")
	write("m.json", "second")
	got, err := migrate.RetireRecord(record)
	if err != nil || got != record+".rolled-back.4" {
		t.Fatalf("retire after .3: %q, %v", got, err)
	}
	if b, _ := os.ReadFile(got); string(b) != "second" {
		t.Errorf("%s holds %q", got, b)
	}
	if b, _ := os.ReadFile(record + ".rolled-back.3"); string(b) != "m.json.rolled-back.3" {
		t.Errorf(".rolled-back.3 was changed: %q", b)
	}
	if _, err := os.Stat(record); !os.IsNotExist(err) {
		t.Errorf("the record after retire: %v", err)
	}
	if last := migrate.LastRetired(record); last != got {
		t.Errorf("LastRetired = %q, want %q", last, got)
	}
}
