package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// metricsURL is the /metrics URL the run logged it serves.
func metricsURL(t *testing.T, r *run) string {
	t.Helper()
	r.stdout.waitFor(t, "/metrics", 10*time.Second)
	m := regexp.MustCompile(`http://[^\s"]+/metrics`).FindString(r.stdout.String())
	if m == "" {
		t.Fatalf("no metrics URL in the log:\n%s", r.stdout.String())
	}
	return m
}

// get answers a GET of url with its status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// waitHealth polls url until it answers code, and returns the body.
func waitHealth(t *testing.T, url string, code int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, body := get(t, url)
		if got == code {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still answers %d %q, want %d", url, got, body, code)
		}
		<-time.After(10 * time.Millisecond) // polls a condition with a deadline
	}
}

// metricValue is the value of the sample named name (with its labels, as
// printed) in a Prometheus text exposition; -1 when there is none.
func metricValue(body, name string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// TestMetricsAndHealth: with --metrics-addr, a running listen serves its
// counters, each route's pending events and dead letters, and the Go
// runtime's, as Prometheus metrics; /healthz answers 200 while connected
// and 503 once no connection is open.
func TestMetricsAndHealth(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	// The second event is refused with a final 400: a dead letter.
	h := newHook(t, func(n int) int {
		if n == 2 {
			return http.StatusBadRequest
		}
		return http.StatusOK
	})
	spool := filepath.Join(t.TempDir(), "m.spool")
	r := start(t, listenArgs(srv, wsID, h.URL, "--spool", spool, "--metrics-addr", "127.0.0.1:0",
		"--reconnect-wait-min", "10ms", "--reconnect-wait-max", "50ms")...)
	r.waitConnected(t, srv, 1)
	url := metricsURL(t, r)
	health := strings.TrimSuffix(url, "/metrics") + "/healthz"
	// The fake counts the connection before the agent has it open.
	if body := waitHealth(t, health, http.StatusOK); !strings.HasPrefix(body, "ok: 1 connection") {
		t.Errorf("healthz while connected: %q, want ok", body)
	}

	gen := dialpadtest.NewGenerator(7)
	for range 3 {
		srv.Publish("sms", gen.SMS())
	}
	h.waitRequests(t, 3, 10*time.Second)
	// The counters follow the deliveries' ends, and the spool's group
	// commits (an event can be delivered before its commit is done).
	want := map[string]float64{
		"dialpad_tunnel_events_received_total":                                                       3,
		"dialpad_tunnel_events_delivered_total":                                                      2,
		"dialpad_tunnel_events_failed_total":                                                         1,
		"dialpad_tunnel_connections":                                                                 1,
		`dialpad_tunnel_events_pending{route="default"}`:                                             0,
		`dialpad_tunnel_spool_dead_letters{route="default"}`:                                         1,
		`dialpad_tunnel_queue_paused_seconds{route="default"}`:                                       0,
		"dialpad_tunnel_events_lost_total":                                                           0,
		"dialpad_tunnel_delivery_latency_seconds_count":                                              2,
		`dialpad_tunnel_delivery_latency_seconds_bucket{le="+Inf"}`:                                  2,
		`dialpad_tunnel_build_info{goversion="` + runtime.Version() + `",version="` + version + `"}`: 1,
	}
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body = get(t, url)
		var wrong []string
		for name, v := range want {
			if got := metricValue(body, name); got != v {
				wrong = append(wrong, fmt.Sprintf("%s = %v, want %v", name, got, v))
			}
		}
		if len(wrong) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never became right: %s\n%s", strings.Join(wrong, "; "), body)
		}
		<-time.After(20 * time.Millisecond) // polls a condition with a deadline
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_open_fds"} {
		if metricValue(body, name) <= 0 {
			t.Errorf("no %s in the metrics", name)
		}
	}

	// No connection: the refreshes fail, so listen stays disconnected.
	srv.FailNextREST(1000, http.StatusInternalServerError, 0)
	srv.DropConnections(1001, "going away")
	if body := waitHealth(t, health, http.StatusServiceUnavailable); !strings.HasPrefix(body, "not connected") {
		t.Errorf("healthz body %q, want it to say not connected", body)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(url); err == nil {
		t.Error("metrics still served after listen stopped")
	}
}

// TestMetricsAddrInUse: an address already in use stops listen at once,
// naming the flag, before it connects to Dialpad.
func TestMetricsAddrInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	for _, tc := range []struct{ addr, want string }{
		{ln.Addr().String(), "address already in use"},
		{"9464", "want HOST:PORT"},
		{"", "give HOST:PORT"},
	} {
		r := start(t, listenArgs(srv, wsID, "http://127.0.0.1:1/", "--no-spool", "--metrics-addr", tc.addr)...)
		err := r.wait(t, 10*time.Second)
		if err == nil || !strings.Contains(err.Error(), "--metrics-addr") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--metrics-addr %s: listen ended with %v, want an error naming the flag and %q", tc.addr, err, tc.want)
		}
	}
	if n := srv.Handshakes(); n != 0 {
		t.Errorf("listen connected %d times before refusing the address", n)
	}

	// listen --create refuses it before it creates anything: it created
	// a websocket and subscription, then deleted them, or with --keep
	// left them and printed them as kept.
	posts := func() (n int) {
		for _, c := range srv.RESTCalls() {
			if c.Method == http.MethodPost {
				n++
			}
		}
		return n
	}
	for _, keep := range []bool{false, true} {
		before := posts()
		args := createArgs(srv, "http://127.0.0.1:1/", "--events", "call", "--no-spool", "--metrics-addr", ln.Addr().String())
		if keep {
			args = append(args, "--keep")
		}
		r := start(t, args...)
		if err := r.wait(t, 10*time.Second); err == nil || !strings.Contains(err.Error(), "address already in use") {
			t.Errorf("--create (keep %v): listen ended with %v, want the address refused", keep, err)
		}
		if n := posts() - before; n != 0 {
			t.Errorf("--create (keep %v) with the address in use: %d creates before refusing it", keep, n)
		}
	}
}

// TestHealthEverySource: /healthz answers 503 while one of the sources
// has no connection open, though another has: events sent to it are lost.
// Here a subscription that is not on the account, retried since
// --stop-on-status leaves 404 out, beside a connected websocket; it
// answered "ok: 1 connection(s) open".
func TestHealthEverySource(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	spoolPath := filepath.Join(t.TempDir(), "h.spool")
	r := start(t, listenArgs(srv, wsID, "http://127.0.0.1:1/", "--spool", spoolPath, "--metrics-addr", "127.0.0.1:0",
		"--subscription", "call:99999", "--stop-on-status", "401",
		"--reconnect-wait-min", "10ms", "--reconnect-wait-max", "50ms")...)
	r.waitConnected(t, srv, 1)
	r.stdout.waitFor(t, "token_expires", 10*time.Second)                     // the agent counts the websocket's connection
	r.stdout.waitFor(t, "no such websocket or subscription", 10*time.Second) // the subscription was refused
	health := strings.TrimSuffix(metricsURL(t, r), "/metrics") + "/healthz"
	code, body := get(t, health)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "1 source(s) have no connection") {
		t.Errorf("healthz with one of two sources connected: %d %q, want 503 naming the source without one", code, body)
	}
	// status says so too, and exits 1.
	if out, err := runCmd(t, "status", "--spool", spoolPath); exitCode(err) != 1 || !strings.Contains(out, "NOT CONNECTED for 1 of its sources") {
		t.Errorf("status with one of two sources connected: %v\n%s", err, out)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
}
