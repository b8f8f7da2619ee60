package control

import (
	"net"
	"os"

	"github.com/dialpad-tunnel/dialpad-tunnel/osuser"
)

// untrustedPeer reports whether the process at the other end of c may
// not be trusted with a request (serve) or an answer (Ask), and its uid:
// one of this user, of root, or, for Ask, of the user who owns the spool
// file at spoolPath (a service's own user, asked by its admin with sudo)
// may be. Where the peer's uid cannot be told, the socket's mode and
// directory have to do. A listen runs only on a spool file of its own
// user (or root): another user's socket was made there by that user, or
// the file was replaced since.
func untrustedPeer(c net.Conn, spoolPath string) (uid int, untrusted bool) {
	uid, ok := peerUID(c)
	if !ok || uid == os.Getuid() || uid == 0 {
		return uid, false
	}
	if spoolPath != "" {
		if fi, err := os.Stat(spoolPath); err == nil {
			if owner, known := osuser.Owner(fi); known && owner == uid {
				return uid, false
			}
		}
	}
	return uid, true
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
