package spool

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/osuser"
)

// Salvaged is what Salvage did to a damaged spool file.
type Salvaged struct {
	Batches   int      // intact batches kept, byte for byte
	Kept      int64    // their bytes
	Damaged   []Region // skipped: neither an intact batch nor the tail (a header, too)
	Tail      int64    // bytes of an unfinished last batch dropped (a crash's: none of its events was reported stored)
	Original  string   // where the file as it was is kept; "" when nothing was changed
	Pending   int      // events in the spool now, by state
	Dead      int
	Delivered int
}

// Changed reports whether the file was replaced.
func (s Salvaged) Changed() bool { return s.Original != "" }

// Region is a stretch of the file that was skipped.
type Region struct {
	Offset, Bytes int64
}

// salvageSuffix names the file Salvage writes before renaming it over the
// spool file.
const salvageSuffix = ".salvage"

// damagedSuffix names the file Salvage keeps the damaged spool file as.
const damagedSuffix = ".damaged"

// Salvage keeps every intact batch of a damaged spool file: it writes them,
// unchanged and in order, to a new file that replaces the one at path, and
// keeps the file as it was next to it (path + ".damaged", or with a time
// if that exists). Whatever the damaged stretches held is gone: events
// recorded there are lost, and an event whose delivery was recorded there
// becomes pending again (it is delivered twice). A file that reads whole
// is left as it is. The file must not be in use.
func Salvage(path string) (Salvaged, error) {
	if err := checkLinks(path); err != nil {
		return Salvaged{}, err
	}
	path = realPath(path)
	if err := checkName(path); err != nil {
		return Salvaged{}, err
	}
	f, err := openLocked(path, false, lockTimeout)
	if err != nil {
		return Salvaged{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Salvaged{}, fmt.Errorf("spool: %w", err)
	}
	if fi.Size() == 0 {
		return Salvaged{}, nil // created, and a crash came before its header: an empty spool, as listen reads it
	}
	tmpPath := path + salvageSuffix
	// A copy left by a crashed salvage is removed, and the new one made
	// exclusively: in a shared folder (/tmp) another user may have put a
	// file or a symbolic link at that name, which is then neither written
	// through nor renamed over the spool (their own stays, as the folder
	// is sticky, and the salvage stops).
	if err := os.Remove(tmpPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Salvaged{}, fmt.Errorf("spool: %s: cannot remove %s, left by an earlier salvage: %w; nothing changed", path, tmpPath, err)
	}
	tmp, err := os.OpenFile(tmpPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Salvaged{}, fmt.Errorf("spool: %s: cannot write the salvaged copy next to it: %w (copy the file to a folder you can write, and salvage the copy); nothing changed", path, err)
	}
	defer tmp.Close()
	// Run as root on a service user's spool, the copy is root's: it
	// takes the file's owner and group before anything is written, or
	// nothing changes (the owner's listen would refuse a file of root's).
	if err := keepOwner(tmp, fi); err != nil {
		os.Remove(tmpPath)
		uid, _ := osuser.Owner(fi) // known: keepOwner fails only where owners are
		return Salvaged{}, fmt.Errorf("spool: %s: is %s, and the salvaged copy that would replace it cannot be given to that user (%w): run the salvage as that user (sudo -u %s dialpad-tunnel events salvage …) or as root; nothing changed", path, osuser.Possessive(uid), unwrapPath(err), osuser.Sudo(uid))
	}
	s, err := salvageBatches(f, fi.Size(), tmp)
	if err == nil && len(s.Damaged) == 0 && s.Tail == 0 {
		os.Remove(tmpPath)
		return s, nil // whole: nothing to change
	}
	if err == nil {
		err = datasync(tmp)
	}
	if err == nil {
		err = lockFile(tmp, time.Now()) // locked before it takes the path
	}
	if err != nil {
		os.Remove(tmpPath)
		switch {
		case errors.Is(err, errNotSpool):
			return Salvaged{}, fmt.Errorf("spool: %s: no intact batch in it: not a dialpad-tunnel spool, or nothing of one is left; nothing changed", path)
		case errors.Is(err, errNewerFormat):
			return Salvaged{}, fmt.Errorf("spool: %s: %w, and what follows does not all read as format %d, as it would if only the header were damaged: use a newer dialpad-tunnel; nothing changed", path, err, fileHeader[len(fileHeader)-1])
		}
		return Salvaged{}, fmt.Errorf("spool: %s: write the salvaged copy %s: %w (it needs about the file's size free); nothing changed", path, tmpPath, err)
	}
	if s.Original, err = keepOriginal(path, fi); err != nil {
		os.Remove(tmpPath)
		return Salvaged{}, fmt.Errorf("spool: %s: keep the damaged file: %w", path, err)
	}
	os.Chtimes(tmpPath, time.Time{}, fi.ModTime()) // its last listen's stop, as writeEnd keeps it
	if err := os.Rename(tmpPath, path); err != nil {
		os.Remove(tmpPath)
		return Salvaged{}, fmt.Errorf("spool: %s: %w (unchanged; a copy is kept as %s)", path, err, s.Original)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return s, fmt.Errorf("spool: %s: %w", path, err)
	}
	return s, nil
}

// salvageBatches writes a header and f's intact batches to out and counts
// their events. A batch is intact when its length fits the file, its
// checksum matches and each of its frames reads. A header that cannot be
// read is skipped as damaged; one that gives a format above the newest
// read (a newer dialpad-tunnel's, or one damaged byte) too, but only if
// everything after it reads as the current format, else errNewerFormat.
func salvageBatches(f *os.File, size int64, out io.Writer) (Salvaged, error) {
	var s Salvaged
	head := make([]byte, len(fileHeader))
	off := int64(0)
	var newer error
	if _, err := f.ReadAt(head, 0); err == nil {
		switch _, err := headerVersion(head); {
		case errors.Is(err, errNewerFormat):
			newer = err
		case err == nil:
			off = int64(len(fileHeader))
		}
	}
	if off == 0 {
		// A damaged header: the batches may still be intact.
		next, ok, err := nextBatch(f, 0, size)
		if err != nil {
			return s, err
		}
		if !ok {
			if newer != nil {
				return s, newer
			}
			return s, errNotSpool
		}
		s.Damaged = append(s.Damaged, Region{Offset: 0, Bytes: next})
		off = next
	}
	if _, err := out.Write(fileHeader); err != nil {
		return s, err
	}
	b := newBook()
	for off < size {
		batch, ok, err := readBatch(f, off, size)
		if err != nil {
			return s, err
		}
		// Its frames are read in a book of their own first, so that a
		// batch with a bad frame changes nothing of the one kept. One
		// whose checksum holds is whole: never a crash's unfinished tail.
		whole := ok
		if ok && frames(batch[batchHeader:], off+batchHeader, newBook().apply) != nil {
			ok = false
		}
		if ok {
			if err := frames(batch[batchHeader:], off+batchHeader, b.apply); err != nil {
				return s, err
			}
			if _, err := out.Write(batch); err != nil {
				return s, err
			}
			s.Batches++
			s.Kept += int64(len(batch))
			off += int64(len(batch))
			continue
		}
		next, found, err := nextBatch(f, off+1, size)
		if err != nil {
			return s, err
		}
		if !found {
			// Damaged, not torn, when it is more than the last batch (as
			// a start tells), or a whole batch that does not read.
			why, err := tailDamage(f, off, size)
			if err != nil {
				return s, err
			}
			if why == "" && !whole {
				s.Tail = size - off
				break
			}
			next = size
		}
		s.Damaged = append(s.Damaged, Region{Offset: off, Bytes: next - off})
		off = next
	}
	if newer != nil && (len(s.Damaged) != 1 || s.Damaged[0] != Region{Offset: 0, Bytes: int64(len(fileHeader))}) {
		return s, newer // more than the header's format does not read: not a damaged byte
	}
	s.Pending, s.Dead, s.Delivered = len(b.seqs(Pending)), len(b.seqs(Dead)), len(b.seqs(Delivered))
	return s, nil
}

// keepOriginal links the file at path to a new name next to it, so that it
// stays as it is once a new file takes the path; it copies it where links
// are not possible, with the owner and group of fi, the file's.
func keepOriginal(path string, fi os.FileInfo) (string, error) {
	kept := path + damagedSuffix
	if _, err := os.Lstat(kept); err == nil {
		kept = path + damagedSuffix + "-" + time.Now().UTC().Format("20060102T150405.000000000Z")
		if len(filepath.Base(kept)) > maxName {
			// checkName leaves room for damagedSuffix only.
			return "", fmt.Errorf("%s is there already, and a name with the time added would be over the limit of %d bytes for a file name: move it away first", path+damagedSuffix, maxName)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if err := os.Link(path, kept); err == nil {
		return kept, syncDir(filepath.Dir(path))
	}
	src, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer src.Close()
	dst, err := os.OpenFile(kept, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if err := keepOwner(dst, fi); err != nil { // its owner may read and remove it, as the link's
		dst.Close()
		os.Remove(kept)
		return "", err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return "", err
	}
	if err := datasync(dst); err != nil {
		dst.Close()
		return "", err
	}
	if err := dst.Close(); err != nil {
		return "", err
	}
	return kept, syncDir(filepath.Dir(path))
}
