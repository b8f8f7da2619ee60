package metrics

import (
	"bufio"
	"bytes"
	"testing"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
	"github.com/dialpad-tunnel/dialpad-tunnel/agent"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestExpositionParses: what a scrape answers is read by Prometheus' own
// parser (expfmt, linked into this test only): every family with its
// type, the routes' samples by label (a quote in a name escaped), and the
// latency histogram's buckets cumulative, ending at +Inf with the count.
func TestExpositionParses(t *testing.T) {
	counts := make([]uint64, len(agent.LatencyBounds())+1)
	counts[0], counts[3], counts[len(counts)-1] = 2, 1, 1
	cfg := Config{
		Stats: func() agent.Stats {
			return agent.Stats{Received: 5, Delivered: 4, Failed: 1, Connected: 1, GapTime: 1500 * time.Millisecond,
				Latency: agent.Latencies{Counts: counts, Sum: 2 * time.Hour}}
		},
		Routes: []Route{
			{Name: "default", Pending: func() int { return 3 }, Paused: func() time.Duration { return 0 }, DeadLetters: func() int64 { return 7 }},
			{Name: `odd"name`, Pending: func() int { return 1 }, Paused: func() time.Duration { return 2 * time.Second }},
		},
		Version: "1.2.3",
	}
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	writeAgent(w, cfg)
	vm.WriteProcessMetrics(w)
	vm.WriteFDMetrics(w)
	w.Flush()

	p := expfmt.NewTextParser(model.LegacyValidation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatalf("Prometheus' parser refuses the exposition: %v\n%s", err, b.String())
	}
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		f := families[name]
		if f == nil {
			t.Fatalf("no family %s", name)
		}
		for _, m := range f.Metric {
			match := true
			for _, lp := range m.Label {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					match = false
				}
			}
			if !match {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
		t.Fatalf("no sample of %s with %v", name, labels)
		return 0
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"dialpad_tunnel_events_received_total", nil, 5},
		{"dialpad_tunnel_events_failed_total", nil, 1},
		{"dialpad_tunnel_gap_seconds_total", nil, 1.5},
		{"dialpad_tunnel_connections", nil, 1},
		{"dialpad_tunnel_events_pending", map[string]string{"route": "default"}, 3},
		{"dialpad_tunnel_events_pending", map[string]string{"route": `odd"name`}, 1},
		{"dialpad_tunnel_queue_paused_seconds", map[string]string{"route": `odd"name`}, 2},
		{"dialpad_tunnel_spool_dead_letters", map[string]string{"route": "default"}, 7},
		{"dialpad_tunnel_build_info", map[string]string{"version": "1.2.3"}, 1},
	} {
		if got := value(c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := len(families["dialpad_tunnel_spool_dead_letters"].Metric); n != 1 {
		t.Errorf("%d dead letter samples, want only the spooled route's", n)
	}
	h := families["dialpad_tunnel_delivery_latency_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 4 || h.GetSampleSum() != 7200 {
		t.Errorf("latency histogram count %d sum %v, want 4 and 7200", h.GetSampleCount(), h.GetSampleSum())
	}
	var last uint64
	for i, bk := range h.GetBucket() {
		if bk.GetCumulativeCount() < last {
			t.Errorf("bucket %d (le %v) %d after %d: not cumulative", i, bk.GetUpperBound(), bk.GetCumulativeCount(), last)
		}
		last = bk.GetCumulativeCount()
	}
	if b0 := h.GetBucket()[0]; b0.GetUpperBound() != 0.00025 || b0.GetCumulativeCount() != 2 {
		t.Errorf("first bucket le %v count %d, want le 0.00025 with 2", b0.GetUpperBound(), b0.GetCumulativeCount())
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "process_open_fds"} {
		if families[name] == nil {
			t.Errorf("no %s", name)
		}
	}
}
