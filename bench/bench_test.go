package bench

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
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

// PostBurst, as run by a process of its own, sends exactly the burst that
// Run's receiver expects: every event known, each once.
func TestPostBurstSendsTheRunsBurst(t *testing.T) {
	const events = 300
	gen := dialpadtest.NewGenerator(seed)
	bodies := make([][]byte, events+50) // the receiver knows more than the burst, as in Run
	for i := range bodies {
		_, bodies[i] = gen.Next()
	}
	rc := newReceiver(bodies)
	rc.reset(events)
	hook := httptest.NewServer(rc)
	defer hook.Close()
	readied := false
	err := PostBurst(context.Background(), hook.URL, events, 4, func() error {
		readied = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !readied {
		t.Fatal("PostBurst did not call ready")
	}
	if _, ok := rc.wait(time.Second, nil); !ok {
		t.Fatalf("%d of %d events arrived", rc.count, events)
	}
	if rc.unknown != 0 {
		t.Fatalf("%d bodies were not the run's", rc.unknown)
	}
	for i := events; i < len(bodies); i++ {
		if !rc.at(i).IsZero() {
			t.Fatalf("event %d, beyond the burst, was sent", i)
		}
	}
}

// A ready that fails stops PostBurst before any POST.
func TestPostBurstStopsWhenNotReady(t *testing.T) {
	var posts atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { posts.Add(1) }))
	defer hook.Close()
	errNoGo := errors.New("no go")
	err := PostBurst(context.Background(), hook.URL, 10, 2, func() error { return errNoGo })
	if !errors.Is(err, errNoGo) || posts.Load() != 0 {
		t.Fatalf("PostBurst = %v after %d POSTs, want the ready's error and none", err, posts.Load())
	}
}

// A refused POST is PostBurst's error, the last ones too: with no more
// events than workers, each POST is among the last.
func TestPostBurstReportsRefusals(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer hook.Close()
	for _, events := range []int{1, 4, 8} {
		err := PostBurst(context.Background(), hook.URL, events, 8, func() error { return nil })
		if err == nil || !strings.Contains(err.Error(), "500") {
			t.Fatalf("%d events: PostBurst = %v, want the handler's 500", events, err)
		}
	}
}

// An agent that stops before it connects (a flag it refused, say) ends the
// run at once with the agent's own error, not after the wait to connect.
func TestRunReportsAgentThatStopsBeforeConnecting(t *testing.T) {
	refused := errors.New("agent process: exit status 1: dialpad-tunnel: --concurrency 0: want 1 to 4096")
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"burst", Config{Events: 20, Rate: 10, RateFor: time.Second}},
		{"backlog", Config{Events: 20, Rate: 10, RateFor: time.Second, Backlog: 10, BacklogProbe: stubProbe{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agent := func(ctx context.Context, apiBase, apiKey string, wsID int64, forwardTo string) error {
				return refused
			}
			want := "the agent stopped before it connected: " + refused.Error()
			if tc.cfg.Backlog > 0 {
				tc.cfg.BacklogListen = agent
				agent = func(ctx context.Context, apiBase, apiKey string, wsID int64, forwardTo string) error {
					return BareForward(ctx, apiBase, apiKey, wsID, forwardTo, 2)
				}
				want = "backlog: " + want
			}
			done := make(chan error, 1)
			go func() {
				_, err := Run(context.Background(), tc.cfg, agent)
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.HasSuffix(err.Error(), want) || !errors.Is(err, refused) {
					t.Fatalf("Run = %v, want it to end with %q", err, want)
				}
			case <-time.After(connectWait / 2):
				t.Fatalf("Run still waits for the agent to connect after %s", connectWait/2)
			}
		})
	}
}

// stubProbe is a Probe of an agent that never ran.
type stubProbe struct{}

func (stubProbe) Received() int64              { return 0 }
func (stubProbe) PeakRSS() int64               { return 0 }
func (stubProbe) PeakNow() int64               { return 0 }
func (stubProbe) RSSParts() (anon, file int64) { return 0, 0 }
func (stubProbe) CPU() time.Duration           { return 0 }

// The median of the rounds: the middle one, or the mean of the two middle
// ones; a ratio pairs each burst with the direct one just before it.
func TestMedianOfRounds(t *testing.T) {
	for _, tc := range []struct {
		v    []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.v); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.v, got, tc.want)
		}
	}
	rounds := []Round{{Direct: 100, Via: 50}, {Direct: 200, Via: 180}, {Direct: 100, Via: 70}}
	if got := medianRatio(rounds); got != 0.7 {
		t.Errorf("medianRatio = %v, want 0.7 (of 0.5, 0.9 and 0.7)", got)
	}
}

// A run cut short by a stop signal (its context cancelled with that
// cause) while the agent's burst is under way ends with the signal as its
// cause, which the command turns into exit 130 and "stopped before the
// report". (Before: "event N was not written to the agent's connection:
// the agent stopped: <nil>", exit 1.)
func TestRunStoppedDuringAgentBurstSaysSo(t *testing.T) {
	interrupted := errors.New("interrupt signal received")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	_, err := Run(ctx, Config{Events: 2000, Rate: 10, RateFor: time.Second},
		func(ctx context.Context, apiBase, apiKey string, wsID int64, forwardTo string) error {
			// The stop comes as the agent's first event reaches the handler.
			var once atomic.Bool
			stopper := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if once.CompareAndSwap(false, true) {
					cancel(interrupted)
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			defer stopper.Close()
			return BareForward(ctx, apiBase, apiKey, wsID, stopper.URL, 2)
		})
	if !errors.Is(err, interrupted) || strings.Contains(err.Error(), "<nil>") {
		t.Fatalf("Run = %v, want the stop's cause (%v), and no <nil>", err, interrupted)
	}
}
