package metrics

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"

	vm "github.com/VictoriaMetrics/metrics"
	"github.com/dialpad-tunnel/dialpad-tunnel/agent"
)

// ns begins the name of every metric of the agent's own.
const ns = "dialpad_tunnel_"

// metrics answers a scrape in Prometheus' text format (version 0.0.4):
// the agent's totals and the queues, read now, then the Go runtime's and
// the process's (VictoriaMetrics/metrics: a small library, where
// client_golang, linked in, cost every run of the binary 2.2 MiB of
// resident memory).
func (s *Server) metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	bw := bufio.NewWriter(w)
	writeAgent(bw, s.cfg)
	vm.WriteProcessMetrics(bw)
	vm.WriteFDMetrics(bw)
	bw.Flush()
}

// writeAgent writes the agent's families: HELP and TYPE, then samples.
func writeAgent(w io.Writer, cfg Config) {
	st := cfg.Stats()
	counters := []struct {
		name, help string
		v          float64
	}{
		{"events_received_total", "Events stored for delivery (once each, however many routes take it).", float64(st.Received)},
		{"events_delivered_total", "Deliveries the handler answered with 2xx (once per route that takes the event).", float64(st.Delivered)},
		{"events_failed_total", "Deliveries that gave up: dead letters (or, with --no-spool, lost).", float64(st.Failed)},
		{"events_filtered_total", "Events that --events, --call-states or the routes left out.", float64(st.Filtered)},
		{"events_lost_total", "Events lost: refused as too large, not queued, or left in memory at a --no-spool stop.", float64(st.Abandoned + st.Oversized)},
		{"frames_duplicate_total", "Frames dropped as already received on another connection.", float64(st.Duplicates)},
		{"frames_invalid_total", "Frames that were not events.", float64(st.Invalid)},
		{"frames_refused_signature_total", "Frames refused by --verify-secret (kept as dead letters).", float64(st.Rejected)},
		{"reconnects_total", "Connections that ended unplanned.", float64(st.Reconnects)},
		{"connections_dropped_unread_total", "Connections the server dropped while their reader was held up, or that ended while being closed with their server still sending: events on them may be lost.", float64(st.DroppedUnread)},
		{"gaps_total", "Windows with no connection open, after the first connection, one still open included.", float64(st.Gaps)},
		{"gap_seconds_total", "Total length of those windows, an open one's so far: events Dialpad sent in them are lost.", st.GapTime.Seconds()},
	}
	for _, c := range counters {
		family(w, c.name, "counter", c.help)
		sample(w, c.name, "", c.v)
	}
	family(w, "connections", "gauge", "Connections to Dialpad open now.")
	sample(w, "connections", "", float64(st.Connected))

	family(w, "events_pending", "gauge", "Events queued and not yet delivered, dead-lettered or filtered.")
	for _, r := range cfg.Routes {
		sample(w, "events_pending", label("route", r.Name), float64(r.Pending()))
	}
	family(w, "queue_paused_seconds", "gauge", "How long reading has waited for room in the route's queue (disk full, or --queue-max-mib); 0 when it does not.")
	for _, r := range cfg.Routes {
		sample(w, "queue_paused_seconds", label("route", r.Name), r.Paused().Seconds())
	}
	family(w, "spool_dead_letters", "gauge", "Dead letters kept in the route's spool file (events list --dead).")
	for _, r := range cfg.Routes {
		if r.DeadLetters != nil {
			sample(w, "spool_dead_letters", label("route", r.Name), float64(r.DeadLetters()))
		}
	}

	const lat = "delivery_latency_seconds"
	family(w, lat, "histogram", "Time from an event's arrival (or the replay that put it back) to its 2xx answer, retries included.")
	var n uint64
	for i, bound := range agent.LatencyBounds() {
		n += st.Latency.Counts[i]
		sample(w, lat+"_bucket", label("le", formatFloat(bound.Seconds())), float64(n))
	}
	n += st.Latency.Counts[len(st.Latency.Counts)-1]
	sample(w, lat+"_bucket", label("le", "+Inf"), float64(n))
	sample(w, lat+"_sum", "", st.Latency.Sum.Seconds())
	sample(w, lat+"_count", "", float64(n))

	family(w, "build_info", "gauge", "Always 1: the version running.")
	sample(w, "build_info", label("goversion", runtime.Version())+","+label("version", cfg.Version), 1)
}

// family writes the HELP and TYPE lines of the metric ns+name.
func family(w io.Writer, name, typ, help string) {
	fmt.Fprintf(w, "# HELP %s%s %s\n# TYPE %s%s %s\n", ns, name, help, ns, name, typ)
}

// sample writes one sample of ns+name with labels (label pairs joined
// by commas, or "").
func sample(w io.Writer, name, labels string, v float64) {
	if labels != "" {
		labels = "{" + labels + "}"
	}
	fmt.Fprintf(w, "%s%s%s %s\n", ns, name, labels, formatFloat(v))
}

// label is name="value", value escaped as the text format asks.
func label(name, value string) string {
	return name + `="` + labelEscaper.Replace(value) + `"`
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// formatFloat is v as the text format writes it.
func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
