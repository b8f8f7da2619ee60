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
	"runtime"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/agent"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{cfg: cfg},
	)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}))
	mux.HandleFunc("GET /healthz", s.health)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
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
// without reach no one. The body says which.
func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	st := s.cfg.Stats()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
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

// collector reads the agent's totals and the queues at each scrape: the
// agent keeps its counters, this only names them.
type collector struct{ cfg Config }

const ns = "dialpad_tunnel_"

var (
	descReceived    = prometheus.NewDesc(ns+"events_received_total", "Events stored for delivery (once each, however many routes take it).", nil, nil)
	descDelivered   = prometheus.NewDesc(ns+"events_delivered_total", "Events the handler answered with 2xx.", nil, nil)
	descFailed      = prometheus.NewDesc(ns+"events_failed_total", "Events whose delivery gave up: dead letters (or, with --no-spool, lost).", nil, nil)
	descFiltered    = prometheus.NewDesc(ns+"events_filtered_total", "Events that --events, --call-states or the routes left out.", nil, nil)
	descLost        = prometheus.NewDesc(ns+"events_lost_total", "Events lost: refused as too large, not queued, or left in memory at a --no-spool stop.", nil, nil)
	descDuplicates  = prometheus.NewDesc(ns+"frames_duplicate_total", "Frames dropped as already received on another connection.", nil, nil)
	descInvalid     = prometheus.NewDesc(ns+"frames_invalid_total", "Frames that were not events.", nil, nil)
	descRefused     = prometheus.NewDesc(ns+"frames_refused_signature_total", "Frames refused by --verify-secret (kept as dead letters).", nil, nil)
	descReconnects  = prometheus.NewDesc(ns+"reconnects_total", "Connections that ended unplanned.", nil, nil)
	descDropped     = prometheus.NewDesc(ns+"connections_dropped_unread_total", "Connections the server dropped while their reader was held up, or that ended while being closed with their server still sending: events on them may be lost.", nil, nil)
	descGaps        = prometheus.NewDesc(ns+"gaps_total", "Windows with no connection open, after the first connection.", nil, nil)
	descGapSeconds  = prometheus.NewDesc(ns+"gap_seconds_total", "Total length of those windows: events Dialpad sent in them are lost.", nil, nil)
	descConnections = prometheus.NewDesc(ns+"connections", "Connections to Dialpad open now.", nil, nil)
	descPending     = prometheus.NewDesc(ns+"events_pending", "Events queued and not yet delivered, dead-lettered or filtered.", []string{"route"}, nil)
	descPaused      = prometheus.NewDesc(ns+"queue_paused_seconds", "How long reading has waited for room in the route's queue (disk full, or --queue-max-mib); 0 when it does not.", []string{"route"}, nil)
	descDead        = prometheus.NewDesc(ns+"spool_dead_letters", "Dead letters kept in the route's spool file (events list --dead).", []string{"route"}, nil)
	descLatency     = prometheus.NewDesc(ns+"delivery_latency_seconds", "Time from an event's arrival (or the replay that put it back) to its 2xx answer, retries included.", nil, nil)
	descBuild       = prometheus.NewDesc(ns+"build_info", "Always 1: the version running.", []string{"version", "goversion"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReceived, descDelivered, descFailed, descFiltered, descLost,
		descDuplicates, descInvalid, descRefused, descReconnects, descDropped, descGaps, descGapSeconds,
		descConnections, descPending, descPaused, descDead, descLatency, descBuild} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.cfg.Stats()
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	counter(descReceived, float64(st.Received))
	counter(descDelivered, float64(st.Delivered))
	counter(descFailed, float64(st.Failed))
	counter(descFiltered, float64(st.Filtered))
	counter(descLost, float64(st.Abandoned+st.Oversized))
	counter(descDuplicates, float64(st.Duplicates))
	counter(descInvalid, float64(st.Invalid))
	counter(descRefused, float64(st.Rejected))
	counter(descReconnects, float64(st.Reconnects))
	counter(descDropped, float64(st.DroppedUnread))
	counter(descGaps, float64(st.Gaps))
	counter(descGapSeconds, st.GapTime.Seconds())
	ch <- prometheus.MustNewConstMetric(descConnections, prometheus.GaugeValue, float64(st.Connected))
	ch <- latencyHistogram(st.Latency)
	for _, r := range c.cfg.Routes {
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(r.Pending()), r.Name)
		ch <- prometheus.MustNewConstMetric(descPaused, prometheus.GaugeValue, r.Paused().Seconds(), r.Name)
		if r.DeadLetters != nil {
			ch <- prometheus.MustNewConstMetric(descDead, prometheus.GaugeValue, float64(r.DeadLetters()), r.Name)
		}
	}
	ch <- prometheus.MustNewConstMetric(descBuild, prometheus.GaugeValue, 1, c.cfg.Version, runtime.Version())
}

// latencyHistogram is l in Prometheus' form: cumulative counts by upper
// bound in seconds.
func latencyHistogram(l agent.Latencies) prometheus.Metric {
	buckets := make(map[float64]uint64, len(l.Counts))
	var n uint64
	for i, bound := range agent.LatencyBounds() {
		n += l.Counts[i]
		buckets[bound.Seconds()] = n
	}
	n += l.Counts[len(l.Counts)-1]
	return prometheus.MustNewConstHistogram(descLatency, n, l.Sum.Seconds(), buckets)
}
