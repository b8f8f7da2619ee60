package control

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// place is a directory that holds control sockets too long to sit beside
// their spool: dir, made by Listen (mode 0700) and used only while it is a
// real directory of this user that no one else may enter.
type place struct {
	// parent, when set, must itself be this user's: private
	// (XDG_RUNTIME_DIR), or at least closed to others' writes (the cache
	// directory, which is often 0755).
	parent      string
	parentShown bool // others may read parent, not write it
	dir         string
	// perHost: the socket's name also hashes the host's name, as dir
	// may be shared by hosts (a home directory on NFS), whose agents would
	// otherwise take each other's socket for a crashed one's.
	perHost bool
}

// places are where a socket that does not fit beside its spool goes, in
// the order Listen tries them: $XDG_RUNTIME_DIR/dialpad-tunnel when
// XDG_RUNTIME_DIR is set to an absolute path (the XDG spec makes it the
// user's own, mode 0700), then dialpad-tunnel-<uid> under os.TempDir,
// then dialpad-tunnel under the user's cache directory ($XDG_CACHE_HOME or
// ~/.cache), for when another user took that name under a shared TMPDIR.
func places() []place {
	var ps []place
	if x := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(x) {
		ps = append(ps, place{parent: x, dir: filepath.Join(x, "dialpad-tunnel")})
	}
	ps = append(ps, place{dir: filepath.Join(os.TempDir(), userDirName())})
	if cache, err := os.UserCacheDir(); err == nil && filepath.IsAbs(cache) {
		ps = append(ps, place{parent: cache, parentShown: true, dir: filepath.Join(cache, "dialpad-tunnel"), perHost: true})
	}
	return ps
}

// sockName is the name, in a place, of the control socket of the spool
// file at real (its path with symbolic links resolved, so that Listen and
// Ask derive the same name for the same file): a hash of that path, and
// of host when not empty.
func sockName(real, host string) string {
	h := sha256.New()
	h.Write([]byte(real))
	if host != "" {
		h.Write([]byte{0})
		h.Write([]byte(host))
	}
	return hex.EncodeToString(h.Sum(nil)[:16]) + Suffix
}

// ready reports whether p's directory may hold a control socket: a real
// directory (not a symbolic link) of this user, with no access for group or
// others, in a parent that is private too when p has one. With create, a
// missing directory is made, mode 0700.
func (p place) ready(create bool) error {
	if p.parent != "" {
		if err := userDir(p.parent, p.parentShown); err != nil {
			return err
		}
	}
	if create {
		if err := os.Mkdir(p.dir, 0o700); err == nil {
			// The umask may have taken bits from 0700; no one else can
			// have replaced the directory since Mkdir (the parent is the
			// user's own, or sticky like /tmp).
			if err := os.Chmod(p.dir, 0o700); err != nil {
				return err
			}
		} else if !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return privateDir(p.dir)
}

// privateDir checks that dir is a real directory of this user that group
// and others may not use.
func privateDir(dir string) error { return userDir(dir, false) }

// userDir checks that dir is a real directory of this user that group and
// others may not use, or with shown, may not write to.
func userDir(dir string, shown bool) error {
	fi, err := os.Lstat(dir)
	switch {
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s: is a symbolic link, not a directory of this user", dir)
	case !fi.IsDir():
		return fmt.Errorf("%s: is not a directory", dir)
	}
	return ownedPrivate(dir, fi, shown)
}

// listenPath is where Listen makes the control socket of the spool file at
// path: beside it when that fits, else in the first place that is ready
// (made if missing) and short enough.
func listenPath(path string) (string, error) {
	socks, why, long := sockets(path, true)
	if len(socks) > 0 {
		return socks[0], nil
	}
	if long == "" {
		return "", fmt.Errorf("control socket of %s: %s", path, strings.Join(why, "; "))
	}
	return "", fmt.Errorf("control socket: %s, and no private directory of this user can hold it instead: %s; use a shorter --spool path, or set TMPDIR to a short directory of your own",
		long, strings.Join(why, "; "))
}

// askPaths are the sockets Ask tries, in order, for the spool file at
// path: beside it when that fits, else the socket in each place that is
// ready (none is made), as Listen and Ask need not see the same
// XDG_RUNTIME_DIR (a service and a login shell, say). why says what made
// a place unusable.
func askPaths(path string) (socks, why []string) {
	socks, why, _ = sockets(path, false)
	return socks, why
}

// sockets returns the control sockets the spool file at path may have:
// beside it when that fits, else one in each place that is ready and short
// enough (with create, only the first, its directory made if missing).
// why says what made a place unusable, and long that the path beside the
// file is too long.
func sockets(path string, create bool) (socks, why []string, long string) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, []string{err.Error()}, ""
	}
	// Whether the socket fits beside the file is decided by the file's
	// real path, so that every spelling of it (through a symbolic link,
	// say) finds the same socket. Ask also tries the spelling given, as
	// an earlier version made the socket there.
	real := abs
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		real = r
	}
	if !create && real != abs && len(abs+Suffix) <= maxSockLen {
		socks = append(socks, path+Suffix)
	}
	if len(real+Suffix) <= maxSockLen {
		return append([]string{real + Suffix}, socks...), nil, ""
	}
	for _, p := range places() {
		host := ""
		if p.perHost {
			if host, err = os.Hostname(); err != nil {
				why = append(why, fmt.Sprintf("%s: no host name to tell this host's sockets apart: %v", p.dir, err))
				continue
			}
		}
		sock := filepath.Join(p.dir, sockName(real, host))
		if len(sock) > maxSockLen {
			why = append(why, tooLong(sock))
			continue
		}
		if err := p.ready(create); err != nil {
			why = append(why, err.Error())
			continue
		}
		socks = append(socks, sock)
		if create {
			break
		}
	}
	return socks, why, tooLong(real + Suffix)
}

// tooLong says that sock is too long for a unix socket.
func tooLong(sock string) string {
	return fmt.Sprintf("%s is too long for a unix socket (%d bytes, at most %d)", sock, len(sock), maxSockLen)
}
