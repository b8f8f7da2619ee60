package control

import (
	"fmt"
	"net"
	"os"

	"github.com/dialpad-tunnel/dialpad-tunnel/osuser"
)

// trustedPeer reports whether the process at the other end of c may be
// trusted with a request (serve) or an answer (Ask): one of this user, of
// root, or, for Ask, of the user who owns the spool file at spoolPath
// (a service's own user, asked by its admin with sudo). Where the peer's
// uid cannot be told, the socket's mode and directory have to do.
func trustedPeer(c net.Conn, spoolPath string) error {
	uid, ok := peerUID(c)
	if !ok {
		return nil
	}
	if uid == os.Getuid() || uid == 0 {
		return nil
	}
	if spoolPath != "" {
		if fi, err := os.Stat(spoolPath); err == nil {
			if owner, known := fileOwner(fi); known && owner == uid {
				return nil
			}
		}
	}
	// A listen runs only on a spool file of its own user (or root): the
	// socket was made there by that user, or the file replaced since.
	return fmt.Errorf("is served by %s, neither this user (uid %d), root nor the spool file's owner, so it is not the spool's listen and nothing was sent to it: that user may have put it where the listen's would be (is the spool in a folder others may write to? check the socket's owner with ls -l), or a listen of that user holds a spool file since replaced (run the command as that user: sudo -u %s dialpad-tunnel …)", osuser.Label(uid), os.Getuid(), osuser.Sudo(uid))
}

// onUnixSocket runs f with the descriptor of c, a unix socket, for a
// peerUID that asks the system who is at the other end; false when c is
// no unix socket or its descriptor cannot be had.
func onUnixSocket(c net.Conn, f func(fd int)) bool {
	uc, isUnix := c.(*net.UnixConn)
	if !isUnix {
		return false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return false
	}
	return raw.Control(func(fd uintptr) { f(int(fd)) }) == nil
}
