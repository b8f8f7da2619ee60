package control

import (
	"net"
	"syscall"
)

// peerUID is the uid of the process at the other end of the unix socket
// c (SO_PEERCRED, as it was when the socket connected); ok is false when
// it cannot be told.
func peerUID(c net.Conn) (uid int, ok bool) {
	var cred *syscall.Ucred
	var err error
	if !onUnixSocket(c, func(fd int) { cred, err = syscall.GetsockoptUcred(fd, syscall.SOL_SOCKET, syscall.SO_PEERCRED) }) || err != nil {
		return 0, false
	}
	return int(cred.Uid), true
}
