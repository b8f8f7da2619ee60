package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestBenchCommand runs a small `bench` in-process: the three paths (with
// --bare) deliver every event and the report has the figures a user reads.
func TestBenchCommand(t *testing.T) {
	r := start(t, "bench", "--in-process", "--bare", "--events", "500", "--rounds", "2", "--rate", "50", "--rate-for", "1s", "--backlog", "0")
	if err := r.wait(t, 2*time.Minute); err != nil {
		t.Fatalf("bench: %v\n%s", err, r.stdout.String())
	}
	out := r.stdout.String()
	for _, row := range []string{"direct POST loop", "agent (fake ws -> handler)", "bare forwarder"} {
		m := regexp.MustCompile(regexp.QuoteMeta(row) + `\s+(\d+)\s+\S+\s+\S+`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no %q row in:\n%s", row, out)
		}
		if n, _ := strconv.Atoi(m[1]); n <= 0 {
			t.Fatalf("%s: %d events/s", row, n)
		}
	}
	// Two rounds: the median ratio, then each round's.
	for _, path := range []string{"agent/direct: ", "bare forwarder/direct: "} {
		re := regexp.MustCompile(regexp.QuoteMeta("throughput ratio "+path) + `(\d+\.\d\d)\b.*; rounds: (\d+\.\d\d) (\d+\.\d\d)\n`)
		m := re.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no %q ratio with two rounds in:\n%s", path, out)
		}
		a, _ := strconv.ParseFloat(m[2], 64)
		b, _ := strconv.ParseFloat(m[3], 64)
		if med, _ := strconv.ParseFloat(m[1], 64); med < min(a, b)-0.01 || med > max(a, b)+0.01 {
			t.Errorf("%s median %v is not between the rounds' %v and %v", path, med, a, b)
		}
	}
	mustContain(t, out, "2 rounds: each burst of the agent")
}

// TestBenchOwnProcesses runs a small `bench --bare` from the real binary:
// the agent, the bare forwarder and the direct loop each run as a process
// of its own, and each row and ratio is reported; --cpuprofile profiles
// the agent's process.
func TestBenchOwnProcesses(t *testing.T) {
	bin := buildAgent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prof := filepath.Join(t.TempDir(), "agent.prof")
	out, err := exec.CommandContext(ctx, bin, "bench", "--bare", "--events", "300", "--rate", "50", "--rate-for", "1s", "--backlog", "0", "--cpuprofile", prof).CombinedOutput()
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	if b, err := readGzip(prof); err != nil || !bytes.Contains(b, []byte("nanoseconds")) {
		t.Fatalf("the agent's --cpuprofile %s: %v; not a CPU profile: %q", prof, err, b)
	}
	for _, row := range []string{"direct POST loop", "agent (fake ws -> handler)", "bare forwarder", "direct loop, own process"} {
		m := regexp.MustCompile(regexp.QuoteMeta(row) + `\s+(\d+)\s+\S+\s+\S+`).FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("no %q row in:\n%s", row, out)
		}
		if n, _ := strconv.Atoi(m[1]); n <= 0 {
			t.Fatalf("%s: %d events/s", row, n)
		}
	}
	mustContain(t, string(out), "throughput ratio agent/direct loop from its own process:")
	mustContain(t, string(out), "agent peak RSS over the first burst: ")
}

// readGzip reads a gzipped file whole (a pprof profile is gzipped protobuf).
func readGzip(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// TestBenchDirectCommand runs the real binary's `bench-direct`, which bench
// starts as a child: it says ready and waits for its go, and a go that never
// comes or a handler that refuses ends it with an error, not a success.
func TestBenchDirectCommand(t *testing.T) {
	bin := buildAgent(t)
	h := newHook(t, func(int) int { return http.StatusInternalServerError })
	for _, tc := range []struct {
		name, stdin, want string
	}{
		{"no go", "", "waiting for the go: EOF"},
		{"refused", "go\n", "500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "bench-direct", "--forward-to", h.URL, "--events", "5")
			cmd.Stdin = strings.NewReader(tc.stdin)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Fatalf("bench-direct: %v, want an error naming %q:\n%s", err, tc.want, out)
			}
			if !strings.HasPrefix(string(out), "ready\n") {
				t.Fatalf("bench-direct did not say ready first:\n%s", out)
			}
		})
	}
}

// TestBenchBareCommand runs the bare forwarder that `bench --bare` starts as
// its own process: it POSTs every published event's exact bytes and stops
// cleanly when interrupted.
func TestBenchBareCommand(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, nil)
	t.Setenv("DIALPAD_API_KEY", srv.APIKey())
	r := start(t, "bench-bare", "--api-base", srv.URL(), "--websocket-id", strconv.FormatInt(wsID, 10),
		"--forward-to", h.URL, "--concurrency", "4")
	r.waitConnected(t, srv, 1)
	gen := dialpadtest.NewGenerator(3)
	want := map[[32]byte]bool{}
	for range 50 {
		typ, ev := gen.Next()
		want[digest(ev)] = true
		if srv.Publish(typ, ev).Frames != 1 {
			t.Fatal("an event was not written to the connection")
		}
	}
	for _, req := range h.waitRequests(t, 50, 30*time.Second) {
		if !want[digest(req.body)] {
			t.Errorf("the handler got bytes that were not published: %q", req.body)
		}
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("bench-bare: %v", err)
	}
}

// TestBenchBareCommandStopsOnRefusal: the bare forwarder has no retries, so
// a refused POST ends it with the handler's answer, rather than a bench that
// waits for events that will never arrive.
func TestBenchBareCommandStopsOnRefusal(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, func(int) int { return http.StatusInternalServerError })
	t.Setenv("DIALPAD_API_KEY", srv.APIKey())
	r := start(t, "bench-bare", "--api-base", srv.URL(), "--websocket-id", strconv.FormatInt(wsID, 10), "--forward-to", h.URL)
	r.waitConnected(t, srv, 1)
	typ, ev := dialpadtest.NewGenerator(3).Next()
	srv.Publish(typ, ev)
	err := r.wait(t, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("bench-bare: %v, want an error naming the handler's 500", err)
	}
}
