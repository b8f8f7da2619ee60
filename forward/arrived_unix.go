//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package forward

import (
	"errors"
	"net"
	"syscall"
)

// peeker looks at an idle connection for anything that came on it and was
// not read (bytes, its close or a reset) without waiting and without
// reading it: a peek of one byte that would not block. It is made once
// per connection, so that a look allocates nothing.
type peeker struct {
	raw  syscall.RawConn
	look func(fd uintptr) // p.peek, bound once
	b    [1]byte
	came bool
}

// newPeeker returns a peeker for nc, or nil when nc is no socket it can
// look at.
func newPeeker(nc net.Conn) *peeker {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	p := &peeker{raw: raw}
	p.look = p.peek
	return p
}

func (p *peeker) peek(fd uintptr) {
	for {
		_, _, err := syscall.Recvfrom(int(fd), p.b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		// Bytes, or 0 and no error (its close), or an error (a reset).
		p.came = !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EWOULDBLOCK)
		return
	}
}

// arrived reports whether anything came on the connection; ok is false
// when it could not be looked at (p nil, or the socket closed).
func (p *peeker) arrived() (came, ok bool) {
	if p == nil || p.raw.Control(p.look) != nil {
		return false, false
	}
	return p.came, true
}
