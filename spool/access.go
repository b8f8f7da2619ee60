package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dialpad-tunnel/dialpad-tunnel/console"
	"github.com/dialpad-tunnel/dialpad-tunnel/osuser"
)

// AccessError is the error of a spool file this user may not open, or may
// not make, as asked: a listen of another user (a service's, say) holds
// it, in a folder of that user's. It names what denies it (the file, or a
// folder above it), its owner and mode, and says to run the command as
// that owner.
type AccessError struct {
	Path    string      // the spool file
	Denied  string      // what the system denied: Path, or a folder above it
	Folder  bool        // Denied is a folder: this user may not look in it, or make a file there
	Make    bool        // with Folder: the file, or a folder on its way, is not there and cannot be made
	Write   bool        // the file was opened for writing too
	UID     int         // Denied's owner; -1 when it cannot be told
	Mode    fs.FileMode // Denied's permission bits
	Listen  bool        // listen's spool: another --spool is a way out too
	Command string      // the command to run as the owner; "dialpad-tunnel …" when empty
	Err     error       // the system's error
}

func (e *AccessError) Error() string {
	return fmt.Sprintf("spool: %s: permission denied to %s%s: %s: %s", e.Path, osuser.This(), e.access(), e.Why(), e.advice())
}

func (e *AccessError) Unwrap() error { return e.Err }

// Why says what denies the file, whose it is, and its mode: "the file is
// dialpad's (uid 998), mode 0600".
func (e *AccessError) Why() string {
	switch {
	case !e.Folder && e.Denied != e.Path:
		return fmt.Sprintf("the file it leads to, %s, is %s, mode %04o", e.Denied, osuser.Possessive(e.UID), e.Mode)
	case !e.Folder:
		return fmt.Sprintf("the file is %s, mode %04o", osuser.Possessive(e.UID), e.Mode)
	}
	what := "this user may not look in it"
	if e.Make {
		what = "this user may not make anything in it"
	}
	return fmt.Sprintf("its folder %s is %s, mode %04o, and %s", e.Denied, osuser.Possessive(e.UID), e.Mode, what)
}

// access says what this user was denied to do with the file itself.
func (e *AccessError) access() string {
	switch {
	case e.Folder:
		return ""
	case e.Write:
		return " to read and write it"
	}
	return " to read it"
}

// advice says what to do: run the command as the owner, or, when the
// owner is this user (or cannot be told), give it access.
func (e *AccessError) advice() string {
	cmd := e.Command
	if cmd == "" {
		cmd = "dialpad-tunnel …"
	}
	other := ""
	if e.Listen {
		other = ", or use a --spool in a folder of this user's"
	}
	switch {
	case e.UID < 0:
		return fmt.Sprintf("run the command as the user the listen runs as (sudo -u USER %s)%s, or check the owner and mode (ls -ld %s)", cmd, other, console.ShellWord(e.Denied))
	case e.UID == os.Getuid():
		perm := "u+rw"
		if e.Folder {
			perm = "u+rwx"
		}
		return fmt.Sprintf("it is this user's own: give it access (chmod %s %s)%s", perm, console.ShellWord(e.Denied), other)
	}
	if !e.Folder && rootMadeInOwnFolder(e.Denied, e.UID) {
		return rootMadeAdvice(e.Denied)
	}
	return fmt.Sprintf("run the command as that user (sudo -u %s %s)%s", osuser.Sudo(e.UID), cmd, other)
}

// rootMadeInOwnFolder reports whether the file at path, of uid, is root's
// in a folder of this user's (not root): a `sudo dialpad-tunnel` run (or
// an earlier version's) made it there, in this user's spool folder. To
// run the command as root is no way out: give it back.
func rootMadeInOwnFolder(path string, uid int) bool {
	me := os.Getuid()
	if uid != 0 || me <= 0 {
		return false
	}
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return false
	}
	owner, ok := osuser.Owner(fi)
	return ok && owner == me
}

// rootMadeAdvice is what to do with a file rootMadeInOwnFolder: give it
// to this user.
func rootMadeAdvice(path string) string {
	who := osuser.Sudo(os.Getuid())
	if strings.HasPrefix(who, "'#") { // chown takes the number itself
		who = strconv.Itoa(os.Getuid())
	}
	return fmt.Sprintf("root made it in this user's folder (a `sudo dialpad-tunnel` run): if it is this user's spool, give it back (sudo chown %s: %s), or remove it", who, console.ShellWord(path))
}

// openError is the error of opening (or making) the spool file at path
// with flags: an AccessError when the system denied it.
func openError(path string, flags int, err error) error {
	if e := denied(path, flags, err); e != nil {
		e.Listen = flags&os.O_CREATE != 0
		return e
	}
	return fmt.Errorf("spool: %w", err)
}

// denied is the AccessError of err, from opening (or making) the spool
// file at path with flags, when the system denied it; nil otherwise. What denied it is the file itself when this user
// can see it, else the nearest folder above it that this user can see:
// the one it may not look in, or, when the file is not there, may not
// make it in.
func denied(path string, flags int, err error) *AccessError {
	if !errors.Is(err, fs.ErrPermission) {
		return nil
	}
	e := &AccessError{Path: path, Denied: path, UID: -1, Write: flags&(os.O_WRONLY|os.O_RDWR) != 0, Err: fs.ErrPermission}
	real := realPath(path)
	fi, serr := os.Stat(real)
	if serr != nil {
		e.Folder, e.Make = true, errors.Is(serr, fs.ErrNotExist)
		if e.Denied, fi = VisibleAbove(real); fi == nil {
			return nil // nothing above it can be seen: the system's error has to do
		}
	} else if real != path {
		e.Denied = real
	}
	e.describe(fi)
	return e
}

// describe sets e's owner and mode to fi's.
func (e *AccessError) describe(fi os.FileInfo) {
	if uid, ok := osuser.Owner(fi); ok {
		e.UID = uid
	}
	e.Mode = fi.Mode().Perm()
}

// VisibleAbove is the nearest folder above path that this user can see,
// and what it is; nil when there is none.
func VisibleAbove(path string) (string, os.FileInfo) {
	p, err := filepath.Abs(path)
	if err != nil {
		return "", nil
	}
	for {
		up := filepath.Dir(p)
		if up == p {
			return "", nil
		}
		if fi, err := os.Stat(up); err == nil {
			return up, fi
		}
		p = up
	}
}

// CheckFolder returns an AccessError, for listen, when this user may not
// list the folder of the spool file at path (listen looks there for the
// files of its routes): a folder of another user, of mode 0700 say, or
// one above it that this user may not look in.
func CheckFolder(path string) error {
	dir := filepath.Dir(realPath(path))
	_, err := os.ReadDir(dir)
	if !errors.Is(err, fs.ErrPermission) {
		return nil // there, or made by the spool's opening, which says what else is wrong
	}
	e := &AccessError{Path: path, Denied: dir, Folder: true, Write: true, UID: -1, Listen: true, Err: fs.ErrPermission}
	fi, serr := os.Stat(dir)
	if serr != nil {
		if e.Denied, fi = VisibleAbove(dir); fi == nil {
			return nil
		}
	}
	e.describe(fi)
	return e
}
