package spool

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ErrLocked is wrapped by OpenDisk, Replay and Purge when another process
// has the spool file open for writing.
var ErrLocked = errors.New("spool file is in use by another dialpad-tunnel process")

// openLocked opens the spool file at path for writing, creating it (and
// its folder, mode 0700) with mode 0600 and a header if it does not exist
// and create is set, and takes its lock, waiting up to lockTimeout for
// another process to let go. An existing file that others may read is
// restricted to mode 0600 once locked. The lock is on the open file:
// compaction renames a new file over the path, so once locked the file
// must still be the one the path names, else it is opened again.
func openLocked(path string, create bool, lockTimeout time.Duration) (*os.File, error) {
	deadline := time.Now().Add(lockTimeout)
	for {
		flags := os.O_RDWR
		if create {
			flags |= os.O_CREATE
		}
		f, err := openFile(path, flags)
		if err != nil {
			return nil, err
		}
		if err := lockFile(f, deadline); err != nil {
			f.Close()
			if errors.Is(err, ErrLocked) {
				return nil, fmt.Errorf("spool: %s: %w (stop it first, or use another --spool)", path, err)
			}
			return nil, fmt.Errorf("spool: %s: lock: %w", path, err)
		}
		same, err := isPath(f, path)
		switch {
		case err != nil:
			err = fmt.Errorf("spool: %w", err)
		case same && create:
			// listen's spool: another user's file is refused before its
			// mode is touched (it was set to 0600, by root, and then
			// refused), as nothing is done to it.
			err = checkOwner(f, path)
		}
		if err == nil && same && mayHoldEvents(f) {
			err = restrictMode(f, path)
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		if same {
			return f, nil
		}
		f.Close() // compacted meanwhile: open the new file
	}
}

// openFile opens the spool file at path with flags; with os.O_CREATE it
// makes its folder first (mode 0700), without it the file must exist.
func openFile(path string, flags int) (*os.File, error) {
	create := flags&os.O_CREATE != 0
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("spool: %s: cannot be opened as a spool: not a regular file", path)
	} else if errors.Is(err, fs.ErrNotExist) && !create {
		return nil, fmt.Errorf("spool: %s: no such spool file", path)
	}
	if create {
		if err := makeFolder(filepath.Dir(path), syncDir); err != nil {
			return nil, openError(path, flags, err)
		}
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return nil, openError(path, flags, err)
	}
	return f, nil
}

// restrictMode sets the mode of the spool file f to 0600 if its group or
// others have any permission on it: it holds event bodies (a file made by
// an older version, or copied, may be 0644).
func restrictMode(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return nil
	}
	if err := f.Chmod(0o600); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is named once, below
		}
		return fmt.Errorf("spool: %s: mode %04o gives group or others access to its events and could not be restricted to 0600: %w (chmod 600 it, as its owner)", path, perm, err)
	}
	return nil
}

// mayHoldEvents reports whether f is empty (a new spool) or starts with a
// spool's header, of any version. A file that is not a spool keeps its
// mode: the caller refuses it and leaves it as it is.
func mayHoldEvents(f *os.File) bool {
	head := make([]byte, len(fileHeader))
	n, err := f.ReadAt(head, 0)
	if n == 0 && errors.Is(err, io.EOF) {
		return true
	}
	_, err = headerVersion(head[:n])
	return !errors.Is(err, errNotSpool)
}

// isPath reports whether f is the file path names now.
func isPath(f *os.File, path string) (bool, error) {
	a, err := f.Stat()
	if err != nil {
		return false, err
	}
	b, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(a, b), nil
}

// initFile writes the header into an empty spool file and makes it, its
// entry in its folder and the folder's entry durable.
func initFile(f *os.File, path string) error {
	if _, err := f.WriteAt(fileHeader, 0); err != nil {
		return err
	}
	if err := datasync(f); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := syncDir(dir); err != nil {
		return err
	}
	// And the folder's own entry: openFile synced it if it made the
	// folder, but an earlier start may have made it and stopped before.
	return syncDir(filepath.Dir(dir))
}

// raiseVersion rewrites an older header (read by scan already) as the
// current one, synced, before anything of the current format is written.
func raiseVersion(f *os.File) error {
	head := make([]byte, len(fileHeader))
	if _, err := f.ReadAt(head, 0); err != nil {
		return err
	}
	if bytes.Equal(head, fileHeader) {
		return nil
	}
	if _, err := f.WriteAt(fileHeader, 0); err != nil {
		return err
	}
	return datasync(f)
}

// makeFolder makes the folder dir and any missing folders above it (mode
// 0700), as os.MkdirAll does, and makes the ones it made durable with
// sync: each of them (its entry for the one below) and the folder above
// the topmost (its entry for that one). Otherwise a crash soon after, on
// a file system that does not order its metadata, could lose the new
// folders, and the spool file made in them with every event stored.
// Syncing the file's own entry in dir is the caller's. A folder that
// cannot be synced stays made: the error says which.
func makeFolder(dir string, sync func(string) error) error {
	var made []string // the folders missing now, dir first
	for p := dir; ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			break // there, or cannot tell: MkdirAll says
		}
		made = append(made, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if len(made) == 0 {
		return nil
	}
	top := made[len(made)-1]
	if up := filepath.Dir(top); up != top {
		made = append(made, up)
	}
	for _, p := range made {
		if err := sync(p); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the folder is named once, below
			}
			return fmt.Errorf("%s: the folder was made, and cannot be synced: %w", p, err)
		}
	}
	return nil
}

// syncDir makes a folder's entries (a created or renamed file) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// notSpool is the error for a file that cannot be read as a spool.
func notSpool(path string, err error) error {
	salvage := "dialpad-tunnel events salvage --spool " + path
	if errors.Is(err, errNewerFormat) {
		return fmt.Errorf("spool: %s: %w (use a newer dialpad-tunnel; if none wrote the file, its header is damaged: `%s` keeps every intact part of it and the file as it is)", path, err, salvage)
	}
	if errors.Is(err, errNotSpool) {
		return fmt.Errorf("spool: %s: cannot be opened as a spool: %v (move it away to start an empty one; if it was a spool, `%s` keeps what is intact)", path, err, salvage)
	}
	return fmt.Errorf("spool: %s: %w (`%s` keeps every intact part of it and the file as it is; moving the file away starts an empty spool, and its events are lost)", path, err, salvage)
}

// maxName is the most bytes a file's name may have (NAME_MAX on Linux and
// most file systems).
const maxName = 255

// workSuffix is the length of the longest suffix of the work files
// written next to a spool file: compaction's, and salvage's copy and the
// damaged file it keeps. (Salvage's dated name for a second damaged file
// is longer: it is refused with advice, see keepOriginal.)
const workSuffix = max(len(compactSuffix), len(salvageSuffix), len(damagedSuffix), len(rescueSuffix))

// checkName refuses a spool file whose name leaves no room for the
// suffix of its work files: it would open, but every compaction would fail
// (the file would grow without bound) and salvage could not run.
func checkName(path string) error {
	n := len(filepath.Base(path))
	if n+workSuffix <= maxName {
		return nil
	}
	return fmt.Errorf("spool: %s: the file's name is %d bytes, and the work files written next to it (its name with %s, %s or %s added) must keep within the limit of %d bytes for a file name: use a shorter --spool name, of at most %d bytes (rename the file to it to keep its events)",
		path, n, compactSuffix, salvageSuffix, damagedSuffix, maxName, maxName-workSuffix)
}

// rawDir is the folder part of path as written, not cleaned: in
// "dirlink/../x" the kernel reads ".." as the parent of where dirlink
// leads, which filepath.Dir, cleaning it to ".", would not.
func rawDir(path string) string {
	i := strings.LastIndexByte(path, filepath.Separator)
	switch {
	case i < 0:
		return "."
	case i == 0:
		return path[:1]
	}
	return path[:i]
}

// kernelDir is path with a folder part holding ".." resolved as the
// kernel resolves it ("dirlink/../x" names x beside where dirlink leads,
// not beside dirlink), so that the spool's real path, which places its
// control socket, names the file opened; path as it is otherwise.
func kernelDir(path string) string {
	dir := rawDir(path)
	if !slices.Contains(strings.Split(filepath.ToSlash(dir), "/"), "..") {
		return path
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return path
	}
	return filepath.Join(real, filepath.Base(path))
}

// realPath follows path through any symbolic links, dangling ones too, to
// the file they name: a compaction or a salvage replaces the spool by a
// rename, which would otherwise put a plain file in the link's place and
// leave the file it named stale behind it. A path that is not a link is
// returned as it is; so is one whose links lead into a missing folder or
// go on too long (opening it then fails).
func realPath(path string) string {
	real, _ := followLinks(path)
	return real
}

// followLinks is realPath's walk. When a link on the way points into a
// folder that is not there, it returns path as it is and missing, that
// link's target (absolute), for an error to name: the first link may lead
// through others to it.
func followLinks(path string) (real, missing string) {
	p := path
	for range 40 {
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			return kernelDir(p), ""
		}
		target, err := os.Readlink(p)
		if err != nil {
			return path, ""
		}
		if !filepath.IsAbs(target) {
			// Relative to the folder the link is really in, as the
			// kernel reads it: its ".." may not be the textual one.
			dir, err := filepath.EvalSymlinks(rawDir(p))
			if err != nil {
				return path, ""
			}
			target = filepath.Join(dir, target)
		}
		if _, err := os.Stat(filepath.Dir(target)); err != nil {
			// The link points into a folder that is not there (a disk
			// not mounted?): opening the path fails, as it did before,
			// rather than a folder being made where the link leads.
			return path, target
		}
		p = target
	}
	return path, ""
}
