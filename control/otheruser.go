package control

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/dialpad-tunnel/dialpad-tunnel/console"
	"github.com/dialpad-tunnel/dialpad-tunnel/osuser"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// OtherUserError is Ask's error when no socket of the spool answered as
// its agent, and one is another user's (see ErrOtherUser, which errors.Is
// finds in it): it says, for each such socket, what denied it, whose it is
// and its mode, and what to do. Nothing was sent to any of them.
type OtherUserError struct {
	Refusals []Refusal // at least one
	// Command is the command to run as that user, its words shell-quoted;
	// "dialpad-tunnel …" when empty. Ask's caller fills it in.
	Command string
}

// Refusal is one control socket that is not this user's to use.
type Refusal struct {
	Sock string // the socket
	// Served: this user connected, but a process of another user (UID),
	// neither this one, root nor the spool file's owner, serves it.
	// Otherwise this user may not connect to it (permission denied).
	Served bool
	Denied string      // without Served: what the system denied, Sock or a folder above it
	Folder bool        // Denied is a folder this user may not look in
	UID    int         // the peer's uid (Served), else Denied's owner; -1 when it cannot be told
	Mode   fs.FileMode // with UID known and not Served: Denied's permission bits
}

func (e *OtherUserError) Error() string {
	cmd := e.Command
	if cmd == "" {
		cmd = "dialpad-tunnel …"
	}
	parts := make([]string, len(e.Refusals))
	for i, r := range e.Refusals {
		parts[i] = r.message(cmd)
	}
	return ErrOtherUser.Error() + ": " + strings.Join(parts, "; ")
}

// Is reports ErrOtherUser.
func (e *OtherUserError) Is(target error) bool { return target == ErrOtherUser }

// message says what denied r's socket, whose it is where that can be
// told, and what to do: run cmd as that user, or check the socket's owner
// with a command that works for this user.
func (r Refusal) message(cmd string) string {
	sock := console.ShellWord(r.Sock)
	if r.Served {
		return fmt.Sprintf("%s is served by %s, neither %s, root nor the spool file's owner, so it is not the spool's listen and nothing was sent to it: that user may have put it where the listen's would be (is the spool in a folder others may write to? check the socket's owner: ls -l %s), or a listen of that user holds a spool file since replaced (run the command as that user: sudo -u %s %s)",
			r.Sock, osuser.Label(r.UID), osuser.This(), sock, osuser.Sudo(r.UID), cmd)
	}
	msg := r.Sock + ": permission denied to " + osuser.This()
	if r.UID >= 0 {
		if r.Folder {
			msg += fmt.Sprintf("; its folder %s is %s, mode %04o, and this user may not look in it", r.Denied, osuser.Possessive(r.UID), r.Mode)
		} else {
			msg += fmt.Sprintf("; the socket is %s, mode %04o", osuser.Possessive(r.UID), r.Mode)
		}
	}
	// In a folder this user may not look in, only another user sees the
	// socket: ls -l as this user would fail.
	check := "ls -l " + sock
	if r.Folder {
		check = "sudo ls -l " + sock
	}
	if r.UID < 0 || r.UID == os.Getuid() {
		return msg + fmt.Sprintf(": a listen of another user may hold the spool, or one that crashed left the socket: run the command as the user the listen runs as (sudo -u USER %s), or check the socket's owner and mode (%s)", cmd, check)
	}
	return msg + fmt.Sprintf(": a listen of %s may hold the spool, or one that crashed left the socket: run the command as that user (sudo -u %s %s), or check the socket's owner (%s)", osuser.Label(r.UID), osuser.Sudo(r.UID), cmd, check)
}

// notPermitted is the Refusal of sock, which this user may not connect to:
// what denied it is the socket itself where this user can see it, else
// the nearest folder above it that this user can see (a folder of mode
// 0700, such as a service's StateDirectory, hides the socket itself).
// Whether an agent listens there cannot be told from here: the socket may
// be a crashed one's, or not be there at all.
func notPermitted(sock string) Refusal {
	r := Refusal{Sock: sock, Denied: sock, UID: -1}
	fi, err := os.Lstat(sock)
	if err != nil {
		if !errors.Is(err, fs.ErrPermission) {
			return r
		}
		r.Folder = true
		if r.Denied, fi = spool.VisibleAbove(sock); fi == nil {
			r.Denied = filepath.Dir(sock)
			return r
		}
	}
	if uid, known := osuser.Owner(fi); known {
		r.UID, r.Mode = uid, fi.Mode().Perm()
	}
	return r
}
