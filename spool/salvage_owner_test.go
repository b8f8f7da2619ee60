//go:build unix

package spool

import (
	"os"
	"syscall"
	"testing"
)

// TestSalvageKeepsOwner: a salvage run as root on the spool of another
// user (a service's, whose listen runs as that user) leaves the file, and
// the one kept as it was, that user's and group's, which that listen
// opens. The salvaged file was root's, which that listen refuses.
func TestSalvageKeepsOwner(t *testing.T) {
	needRoot(t)
	path, whole := damagedSpool(t)
	if err := os.WriteFile(path, flip(t, whole, `{"n":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, otherUID, otherUID); err != nil {
		t.Fatal(err)
	}
	s, err := Salvage(path)
	if err != nil {
		t.Fatalf("Salvage: %v", err)
	}
	if !s.Changed() {
		t.Fatal("Salvage changed nothing; want the damaged batch skipped")
	}
	for _, p := range []string{path, s.Original} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != otherUID || st.Gid != otherUID || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: uid %d, gid %d, mode %04o after the salvage; want uid and gid %d (the file's), mode 0600", p, st.Uid, st.Gid, fi.Mode().Perm(), otherUID)
		}
	}
}
