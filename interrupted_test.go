package main

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemoAndSoakInterruptedSaySo: an interrupt (or SIGTERM) before the
// summary ends the real binary with 128 + the signal and a line saying
// the run was stopped, not a bare "context canceled".
func TestDemoAndSoakInterruptedSaySo(t *testing.T) {
	bin := buildAgent(t)
	for _, tc := range []struct {
		args []string
		sig  syscall.Signal
		want string
	}{
		{[]string{"demo", "--duration", "1m"}, syscall.SIGINT, "dialpad-tunnel: demo: stopped before the summary: interrupt signal received"},
		{[]string{"soak", "--duration", "1m", "--rate", "50", "--agent-log"}, syscall.SIGTERM, "dialpad-tunnel: soak: stopped before the report: terminated signal received"},
	} {
		t.Run(tc.args[0], func(t *testing.T) {
			p := startAgent(t, bin, tc.args...)
			if tc.args[0] == "demo" {
				p.stdout.waitFor(t, "connected", 30*time.Second)
			} else {
				p.stderr.waitFor(t, `"msg":"connected"`, 30*time.Second)
			}
			err := p.signal(t, tc.sig)
			wantExit(t, err, 128+int(tc.sig), p.stderr.String(), tc.want)
			if strings.Contains(p.stderr.String(), "dialpad-tunnel: context canceled") {
				t.Errorf("stderr:\n%s\nwant no bare context canceled", p.stderr.String())
			}
		})
	}
}

// TestBenchInterruptedSaysSo: bench stopped before its report says so, as
// demo and soak do, whatever it was doing, so that main exits 128 + the
// signal. (Before: "direct loop: context canceled", or "event N was not
// written to the agent's connection: the agent stopped: <nil>" and exit 1.)
func TestBenchInterruptedSaysSo(t *testing.T) {
	r := start(t, "bench", "--in-process", "--rounds", "1", "--backlog", "0")
	err := r.stop(t)
	if err == nil || !strings.HasPrefix(err.Error(), "bench: stopped before the report: ") || !errors.Is(err, context.Canceled) {
		t.Fatalf("bench stopped: %v, want bench: stopped before the report: …", err)
	}
}
