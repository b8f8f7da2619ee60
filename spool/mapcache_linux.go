package spool

import (
	"syscall"
	"time"
)

// releaseMap drops the spool file's pages from this process's resident set,
// at most every 20ms. bbolt reads the file through a shared, read-only
// memory map, so every page it ever touched would otherwise count in the
// agent's RSS; the pages stay in the kernel's page cache, and the next read
// of one costs a minor fault, not I/O. Run calls it between transactions:
// only a write transaction can remap the file, so the map is stable here.
func (d *Disk) releaseMap() {
	if d.mapSize == 0 || time.Since(d.releasedAt) < 20*time.Millisecond {
		return
	}
	d.releasedAt = time.Now()
	// A failure only means the pages stay resident.
	syscall.Syscall(syscall.SYS_MADVISE, d.db.Info().Data, uintptr(d.mapSize), syscall.MADV_DONTNEED)
}
