package spool

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSalvageWorkFileNotFollowed: a symbolic link where Salvage writes its
// copy (path.salvage, which another user may make first in a shared
// folder such as /tmp) is not followed: the file it names keeps its
// bytes, and the spool's path ends up a file of its own, not the link. A
// copy left by a crashed salvage is replaced.
func TestSalvageWorkFileNotFollowed(t *testing.T) {
	for _, left := range []string{"link", "stale"} {
		t.Run(left, func(t *testing.T) {
			path, whole := damagedSpool(t)
			if err := os.WriteFile(path, flip(t, whole, `{"n":1}`), 0o600); err != nil {
				t.Fatal(err)
			}
			victim := filepath.Join(t.TempDir(), "victim")
			if err := os.WriteFile(victim, []byte("precious\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			switch left {
			case "link":
				if err := os.Symlink(victim, path+salvageSuffix); err != nil {
					t.Fatal(err)
				}
			case "stale":
				if err := os.WriteFile(path+salvageSuffix, []byte("half a copy"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := Salvage(path); err != nil {
				t.Fatalf("Salvage: %v", err)
			}
			if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
				t.Errorf("the file the link named was overwritten: %.40q", b)
			}
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if !fi.Mode().IsRegular() {
				t.Errorf("%s is %v after salvage, want a regular file", path, fi.Mode())
			}
			d, err := OpenDisk(DiskConfig{Path: path})
			if err != nil {
				t.Fatalf("OpenDisk after salvage: %v", err)
			}
			d.Close()
		})
	}
}
