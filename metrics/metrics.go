// Package metrics serves a running listen's counters as Prometheus
// metrics (/metrics) and its connection state as a health check
// (/healthz), on an address of the user's choosing.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/agent"
)

// Route is what is read of one route's queue at each scrape.
type Route struct {
	Name    string
	Pending func() int           // events queued and not done (the status line's pending=)
	Paused  func() time.Duration // how long reading has waited for room (0: it does not)
	// DeadLetters counts the dead letters kept in the route's spool file;
	// nil with --no-spool, which keeps none.
	DeadLetters func() int64
}

// Config is what Serve reads at each scrape.
type Config struct {
	Stats   func() agent.Stats
	Routes  []Route
	Version string
	Logger  *slog.Logger
	// Stopping reports that listen got a stop signal: it reads no more
	// events and finishes the deliveries in flight. nil: never.
	Stopping func() bool
}

// Server answers /metrics and /healthz for one run of listen.
type Server struct {
	ln  net.Listener
	cfg Config
}

// Listen binds addr (HOST:PORT; port 0 picks a free one), so that a port
// in use is refused before listen connects to anything.
func Listen(addr string) (*Server, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("want HOST:PORT, e.g. 127.0.0.1:9464: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &Server{ln: ln}, nil
}

// Addr is the address bound: with port 0, the one picked.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close lets go of the address of a Server that will not be served.
func (s *Server) Close() { s.ln.Close() }

// Serve answers requests from cfg until ctx is done, then closes the
// listener and every connection, and returns. It runs in the caller's
// goroutine.
func (s *Server) Serve(ctx context.Context, cfg Config) error {
	if cfg.Stats == nil {
		s.ln.Close()
		return errors.New("metrics: Config.Stats is nil")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s.cfg = cfg
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.HandleFunc("GET /healthz", s.health)
	// A scraper that stops reading holds no goroutine for long.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug)}
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	if err := srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// health answers 200 while every source (websocket or subscription) has
// a connection to Dialpad open, else 503: events sent meanwhile to one
// without reach no one. The body says which, and says "stopping" once
// listen got a stop signal, as status does.
func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	st := s.cfg.Stats()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.cfg.Stopping != nil && s.cfg.Stopping() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "stopping: listen got a stop signal: it reads no more events, and exits once the deliveries in flight end (--drain-timeout at most)")
		return
	}
	if st.Connected == 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not connected: no connection to Dialpad is open, and events sent now are lost")
		return
	}
	if st.Unconnected > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not connected: %d source(s) have no connection to Dialpad open, and the events sent to them now are lost (%d connection(s) open for the others)\n", st.Unconnected, st.Connected)
		return
	}
	fmt.Fprintf(w, "ok: %d connection(s) open\n", st.Connected)
}
