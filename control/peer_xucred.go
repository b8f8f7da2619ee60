//go:build darwin || freebsd

package control

import (
	"net"

	"golang.org/x/sys/unix"
)

// xucredVersion is XUCRED_VERSION of <sys/ucred.h>, 0 on macOS and
// FreeBSD: a struct xucred of another version is not read.
const xucredVersion = 0

// peerUID is the uid of the process at the other end of the unix socket
// c (LOCAL_PEERCRED, as it was when the socket connected); ok is false
// when it cannot be told.
func peerUID(c net.Conn) (uid int, ok bool) {
	var cred *unix.Xucred
	var err error
	if !onUnixSocket(c, func(fd int) { cred, err = unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED) }) ||
		err != nil || cred.Version != xucredVersion {
		return 0, false
	}
	return int(cred.Uid), true
}
