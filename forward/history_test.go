package forward

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDeliverHistory: every attempt is reported with its status or error,
// in order, so a dead letter can show them.
func TestDeliverHistory(t *testing.T) {
	rc := newReceiver(t, statuses(500, 503, 200))
	f := newForwarder(t, rc.URL, Config{})
	res := f.Deliver(context.Background(), Request{Body: []byte(`{}`)})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	var got []int
	for _, a := range res.History {
		got = append(got, a.Status)
		if a.At.IsZero() || a.Duration <= 0 || a.Err != "" {
			t.Errorf("attempt %+v: want a start time, a duration and no error", a)
		}
	}
	if len(got) != 3 || got[0] != 500 || got[1] != 503 || got[2] != 200 {
		t.Fatalf("history statuses = %v, want [500 503 200]", got)
	}

	dead := newForwarder(t, closedPort(t), Config{MaxAttempts: 2})
	res = dead.Deliver(context.Background(), Request{Body: []byte(`{}`)})
	if len(res.History) != 2 || !strings.Contains(res.History[1].Err, "connection refused") {
		t.Fatalf("history for a closed port = %+v, want 2 attempts with the error", res.History)
	}
}

// TestDeliverUnlimited retries until the handler recovers, well past the
// default number of attempts, and stops when the context ends.
func TestDeliverUnlimited(t *testing.T) {
	codes := make([]int, 12)
	for i := range codes {
		codes[i] = http.StatusServiceUnavailable
	}
	rc := newReceiver(t, statuses(append(codes, http.StatusOK)...))
	f := newForwarder(t, rc.URL, Config{MaxAttempts: Unlimited})
	res := f.Deliver(context.Background(), Request{Body: []byte(`{}`)})
	if res.Err != nil || res.Attempts != 13 {
		t.Fatalf("Deliver = %d attempts, %v; want delivered on attempt 13", res.Attempts, res.Err)
	}
	if got := rc.recorded()[12].header.Get(DefaultAttemptHeader); got != "13" {
		t.Fatalf("attempt header of the 13th POST = %q", got)
	}

	down := newReceiver(t, statuses(http.StatusBadGateway))
	g := newForwarder(t, down.URL, Config{MaxAttempts: Unlimited})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res = g.Deliver(ctx, Request{Body: []byte(`{}`)})
	if res.Err == nil || !res.Retryable || res.Attempts < 2 {
		t.Fatalf("Deliver to a handler that stays down = %d attempts, %v, retryable %v", res.Attempts, res.Err, res.Retryable)
	}
}
