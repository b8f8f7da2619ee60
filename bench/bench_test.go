package bench

import (
	"context"
	"strings"
	"testing"
	"time"
)

// An agent that stops with an error ends the run at once with that error,
// rather than after the wait for events that will never arrive.
func TestRunReportsAgentFailure(t *testing.T) {
	ctx := context.Background()
	_, err := Run(ctx, Config{Events: 20, Rate: 10, RateFor: time.Second},
		func(ctx context.Context, apiBase, apiKey string, wsID int64, _ string) error {
			// POSTs to a port nothing listens on: the first one fails.
			return BareForward(ctx, apiBase, apiKey, wsID, "http://127.0.0.1:1/hook", 2)
		})
	if err == nil || !strings.Contains(err.Error(), "the agent stopped: bench: bare forwarder:") {
		t.Fatalf("Run = %v, want the agent's own error", err)
	}
}
