package spool

import (
	"runtime"
	"testing"
)

// TestDiskFreeKnown: where the free space can be told (Linux, macOS,
// FreeBSD, DragonFly, OpenBSD, Windows), it is told for a folder, and the
// used space with it, neither below zero.
func TestDiskFreeKnown(t *testing.T) {
	switch runtime.GOOS {
	case "linux", "darwin", "freebsd", "dragonfly", "openbsd", "windows":
	default:
		t.Skipf("the free space is unknown on %s", runtime.GOOS)
	}
	dir := t.TempDir()
	free, ok := diskFree(dir)
	if !ok || free < 0 {
		t.Errorf("diskFree(%s) = %d, %v; want a known size, not below 0", dir, free, ok)
	}
	used, ok := diskUsed(dir)
	if !ok || used < 0 {
		t.Errorf("diskUsed(%s) = %d, %v; want a known size, not below 0", dir, used, ok)
	}
}
