package dialpadtest

import (
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one accepted websocket connection. Its handshake handler's
// goroutine is its only reader; a watcher goroutine closes it at exp.
type conn struct {
	ws     *websocket.Conn
	scope  scope
	exp    time.Time // by the host's clock (the token's exp less Config.ClockOffset)
	opened time.Time
	done   chan struct{} // closed when the reader returned and ws is closed

	writeTimeout time.Duration // Config.WriteTimeout

	writeMu sync.Mutex // serialises data frames and the close frame
	closing bool       // guarded by writeMu: a close frame was sent or ws is closed
}

// write sends one text frame unless the connection is closing and reports
// whether the whole frame was written.
func (c *conn) write(frame []byte) bool {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.closing {
		return false
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		c.closing = true
		c.ws.Close()
		return false
	}
	return true
}

// sendClose sends a close frame with code and reason unless one was already
// sent; no data frame follows it.
func (c *conn) sendClose(code int, reason string) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.closing {
		return
	}
	c.closing = true
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason),
		time.Now().Add(writeWait))
}

// closeGracefully sends a close frame and lets the reader wait closeGrace
// for the client's close frame before the TCP connection is closed.
func (c *conn) closeGracefully(code int, reason string) {
	c.sendClose(code, reason)
	_ = c.ws.SetReadDeadline(time.Now().Add(closeGrace))
}

// serveEvents answers a websocket handshake at /events/<token> and then,
// on the handler's goroutine, reads from the connection until it closes. It
// starts a watcher goroutine that closes the connection at its token's exp
// and stops when the reader is done.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request, token string) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s.mu.Lock()
	refuse := s.refuseN > 0
	code := s.refuseCode
	if refuse {
		s.refuseN--
	}
	s.mu.Unlock()
	if refuse {
		http.Error(w, http.StatusText(code), code)
		return
	}
	claims, sc, err := s.verifyToken(token, time.Now().Add(s.cfg.ClockOffset))
	if err != nil {
		s.log.Debug("dialpadtest: handshake rejected", "reason", err.Error())
		http.Error(w, "invalid websocket token", http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	ok := s.scopeExistsLocked(sc)
	s.mu.Unlock()
	if !ok {
		http.Error(w, "websocket not found", http.StatusNotFound)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered the client
	}
	c := &conn{ws: ws, scope: sc, exp: secondsToTime(claims.Exp).Add(-s.cfg.ClockOffset), opened: time.Now(), done: make(chan struct{}), writeTimeout: s.cfg.WriteTimeout}
	ws.SetCloseHandler(func(code int, text string) error {
		c.writeMu.Lock()
		defer c.writeMu.Unlock()
		if !c.closing {
			c.closing = true
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""),
				time.Now().Add(writeWait))
		}
		return nil
	})
	ws.SetPingHandler(func(data string) error {
		s.mu.Lock()
		noPong := s.noPong
		s.pings++
		s.signalLocked()
		s.mu.Unlock()
		if noPong {
			return nil
		}
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeWait))
		var ne net.Error
		if errors.Is(err, websocket.ErrCloseSent) || errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return err
	})
	if !s.register(c) {
		ws.Close()
		return
	}
	s.log.Info("dialpadtest: websocket connected", "websocket_id", sc.websocketID,
		"subscription_id", sc.subID, "remote", r.RemoteAddr)
	go s.watch(c) // owns nothing; closes c at exp; stops when c.done is closed
	s.read(c)
}

// register adds c to the open connections, unless the server is closed or
// c's websocket or subscription was deleted meanwhile, and accounts for the
// goroutines serving it.
func (s *Server) register(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.scopeExistsLocked(c.scope) {
		return false
	}
	s.wg.Add(2) // the reader (the handshake handler) and the watcher
	s.open[c] = struct{}{}
	s.handshakes++
	s.signalLocked()
	return true
}

// scopeExistsLocked reports whether the websocket (and subscription) of sc
// exist; s.mu must be held.
func (s *Server) scopeExistsLocked(sc scope) bool {
	if sc.subID == 0 {
		return s.websockets[sc.websocketID] != nil
	}
	sub := s.subs[sc.subID]
	return s.websockets[sc.websocketID] != nil && sub != nil && sub.endpointID == sc.websocketID
}

// read discards client frames (processing control frames on the way) until
// the connection fails or closes, then tears it down.
func (s *Server) read(c *conn) {
	defer s.wg.Done()
	for {
		if _, _, err := c.ws.NextReader(); err != nil {
			break
		}
	}
	c.writeMu.Lock()
	c.closing = true
	c.writeMu.Unlock()
	c.ws.Close()
	s.mu.Lock()
	delete(s.open, c)
	s.signalLocked()
	s.mu.Unlock()
	close(c.done)
	s.log.Info("dialpadtest: websocket closed", "websocket_id", c.scope.websocketID,
		"subscription_id", c.scope.subID)
}

// watch closes c with Config.CloseCode when its token expires.
func (s *Server) watch(c *conn) {
	defer s.wg.Done()
	t := time.NewTimer(time.Until(c.exp))
	defer t.Stop()
	select {
	case <-t.C:
		c.closeGracefully(s.cfg.CloseCode, "token expired")
	case <-c.done:
	}
}
