//go:build !(linux || darwin || freebsd || dragonfly || openbsd || windows)

package spool

// diskFree is unknown here: compaction waits for CompactAfter of garbage.
func diskFree(string) (int64, bool) { return 0, false }

// diskUsed is unknown here.
func diskUsed(string) (int64, bool) { return 0, false }
