package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteFile: the file is made with mode 0600 in a folder made 0700,
// replaced whole on the next write, and nothing else is left beside it;
// a file or symbolic link at the name of an older temporary file
// (`<file>.tmp`, which migrate's record used) is neither written through
// nor replaced.
func TestWriteFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "migration.json")
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("untouched"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, data := range []string{"first", "second, longer"} {
		if i == 1 {
			if err := os.Symlink(victim, path+".tmp"); err != nil {
				t.Fatal(err)
			}
		}
		if err := WriteFile(path, []byte(data)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != data {
			t.Fatalf("write %d: read back %q, %v; want %q", i, got, err, data)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file: %v, want mode 0600", err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("folder: %v, want mode 0700", err)
	}
	if got, _ := os.ReadFile(victim); string(got) != "untouched" {
		t.Errorf("the file a link at %s.tmp leads to was written: %q", path, got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 { // the file, and the planted link
		t.Errorf("left in the folder: %v, want the file and the planted link only", entries)
	}
}
