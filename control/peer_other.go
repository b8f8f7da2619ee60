//go:build !(linux || darwin || freebsd)

package control

import "net"

// peerUID cannot tell the peer's uid here (OpenBSD, NetBSD, DragonFly,
// Windows): the socket's mode (0600) and its directory are all that keep
// others out.
func peerUID(net.Conn) (uid int, ok bool) { return 0, false }
