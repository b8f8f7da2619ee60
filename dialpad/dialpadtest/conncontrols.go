package dialpadtest

import "context"

// signalLocked wakes every waiter on s.changed; s.mu must be held.
func (s *Server) signalLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// openConns returns the open connections; s.mu must be held.
func (s *Server) openConns() []*conn {
	out := make([]*conn, 0, len(s.open))
	for c := range s.open {
		out = append(out, c)
	}
	return out
}

// Connections returns the number of currently open websocket connections.
// A connection is counted just after its handshake response was written,
// so a client's Dial can return before it is: wait with WaitConnections
// before publishing to a new connection.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

// Handshakes returns the number of successful websocket handshakes so far
// (counted like Connections; see WaitHandshakes).
func (s *Server) Handshakes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handshakes
}

// WaitConnections blocks until at least n websocket connections are open or
// ctx is done.
func (s *Server) WaitConnections(ctx context.Context, n int) error {
	return s.waitFor(ctx, func() bool { return len(s.open) >= n })
}

// WaitConnectionsAtMost blocks until at most n websocket connections are
// open (a client's connection has ended, as the server sees it) or ctx is
// done.
func (s *Server) WaitConnectionsAtMost(ctx context.Context, n int) error {
	return s.waitFor(ctx, func() bool { return len(s.open) <= n })
}

// WaitHandshakes blocks until at least n handshakes have succeeded or ctx is
// done.
func (s *Server) WaitHandshakes(ctx context.Context, n int) error {
	return s.waitFor(ctx, func() bool { return s.handshakes >= n })
}

// Pings returns the number of ping frames received from clients so far.
func (s *Server) Pings() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pings
}

// WaitPings blocks until at least n pings have been received or ctx is done.
func (s *Server) WaitPings(ctx context.Context, n int) error {
	return s.waitFor(ctx, func() bool { return s.pings >= n })
}

// waitFor blocks until cond, evaluated with s.mu held, is true.
func (s *Server) waitFor(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// DropConnections sends a close frame with code and reason on every open
// connection, then closes them (after the client's close frame, or after a
// grace period of a second). It returns when they are all closed.
func (s *Server) DropConnections(code int, reason string) {
	s.mu.Lock()
	open := s.openConns()
	s.mu.Unlock()
	s.closeConns(open, code, reason)
}

// closeConns closes open gracefully and waits until they are gone.
func (s *Server) closeConns(open []*conn, code int, reason string) {
	for _, c := range open {
		c.closeGracefully(code, reason)
	}
	for _, c := range open {
		<-c.done
	}
}

// DropConnectionsAbruptly closes every open TCP connection without a close
// frame and returns when they are all closed.
func (s *Server) DropConnectionsAbruptly() {
	s.mu.Lock()
	open := s.openConns()
	s.mu.Unlock()
	for _, c := range open {
		c.writeMu.Lock()
		c.closing = true
		c.writeMu.Unlock()
		c.ws.Close()
	}
	for _, c := range open {
		<-c.done
	}
}

// RefuseNextHandshakes answers the next n websocket handshakes with the
// HTTP status instead of upgrading, before the token is checked.
func (s *Server) RefuseNextHandshakes(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseN, s.refuseCode = n, status
}

// SetPong sets whether the server answers pings (the default). With false
// the connection looks like a dead peer to a client that pings.
func (s *Server) SetPong(enabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noPong = !enabled
}
