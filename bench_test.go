package main

import (
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestBenchCommand runs a small `bench` in-process: both paths deliver
// every event and the report has the figures a user reads.
func TestBenchCommand(t *testing.T) {
	r := start(t, "bench", "--in-process", "--events", "500", "--rate", "50", "--rate-for", "1s", "--backlog", "0")
	if err := r.wait(t, 2*time.Minute); err != nil {
		t.Fatalf("bench: %v\n%s", err, r.stdout.String())
	}
	out := r.stdout.String()
	for _, row := range []string{"direct POST loop", "agent (fake ws -> handler)"} {
		m := regexp.MustCompile(regexp.QuoteMeta(row) + `\s+(\d+)\s+\S+\s+\S+`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no %q row in:\n%s", row, out)
		}
		if n, _ := strconv.Atoi(m[1]); n <= 0 {
			t.Fatalf("%s: %d events/s", row, n)
		}
	}
	mustContain(t, out, "throughput ratio agent/direct:")
}
