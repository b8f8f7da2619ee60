package agent

import (
	"net/http"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

func TestBackoffGrowsWithinBoundsAndCaps(t *testing.T) {
	const (
		lo = 5 * time.Millisecond
		hi = 50 * time.Millisecond
	)
	b := backoff{min: lo, max: hi}
	want := []time.Duration{5, 10, 20, 40, 50, 50, 50, 50}
	for round := range 50 { // the waits are random: check many sequences
		b.reset()
		for i, w := range want {
			d := w * time.Millisecond
			got := b.next()
			if got < d/2 || got > d {
				t.Fatalf("round %d: wait %d = %v, want within [%v, %v]", round, i, got, d/2, d)
			}
		}
	}
}

func TestBackoffIsJittered(t *testing.T) {
	b := backoff{min: time.Second, max: time.Minute}
	seen := map[time.Duration]bool{}
	for range 20 {
		b.reset()
		seen[b.next()] = true
	}
	if len(seen) < 2 {
		t.Errorf("20 first waits were all %v: no jitter", seen)
	}
}

func TestBackoffReset(t *testing.T) {
	b := backoff{min: 10 * time.Millisecond, max: time.Second}
	for range 10 {
		b.next()
	}
	if got := b.next(); got < 500*time.Millisecond {
		t.Fatalf("after 10 waits the next is %v, want the cap's range", got)
	}
	b.reset()
	if got := b.next(); got < 5*time.Millisecond || got > 10*time.Millisecond {
		t.Errorf("after reset the wait is %v, want within [5ms, 10ms]", got)
	}
}

func TestBackoffMinEqualsMax(t *testing.T) {
	b := backoff{min: 20 * time.Millisecond, max: 20 * time.Millisecond}
	for i := range 40 {
		if got := b.next(); got < 10*time.Millisecond || got > 20*time.Millisecond {
			t.Fatalf("wait %d = %v, want within [10ms, 20ms]", i, got)
		}
	}
}

// Many failures in a row never leave the [max/2, max] range, whatever min is.
func TestBackoffLongRunStaysAtCap(t *testing.T) {
	for _, tc := range []struct{ min, max time.Duration }{
		{500 * time.Millisecond, 60 * time.Second}, // the defaults
		{5 * time.Millisecond, 50 * time.Millisecond},
		{8 * time.Second, time.Hour},
	} {
		b := backoff{min: tc.min, max: tc.max}
		for i := range 200 {
			got := b.next()
			if i >= 40 && (got < tc.max/2 || got > tc.max) {
				t.Fatalf("min %v max %v: wait %d = %v, want within [%v, %v]", tc.min, tc.max, i, got, tc.max/2, tc.max)
			}
		}
	}
}

func TestBackoffLargeMinOverflow(t *testing.T) {
	b := backoff{min: 1<<34 + 1, max: time.Hour}
	for i := range 40 {
		if got := b.next(); i >= 10 && got < b.max/2 {
			t.Fatalf("wait %d = %v, want within [%v, %v]", i, got, b.max/2, b.max)
		}
	}
}

// TestRotationFailureAfterLongLifeWaitsFreshBackoff: failures at start-up
// grow the backoff; a connection that then lives BackoffReset resets it,
// though with make-before-break it never ends. A failed fetch at its
// rotation waits the first, shortest backoff, not the start-up's grown
// one (which, with its cap of a minute, could take up the margin before
// the token expires).
func TestRotationFailureAfterLongLifeWaitsFreshBackoff(t *testing.T) {
	const startupFailures = 5
	fake := newFake(t, dialpadtest.Config{TokenTTL: 800 * time.Millisecond}) // rotates 200ms before exp
	wsID := fake.AddWebsocket("")
	addSub(t, fake, "sms", wsID)
	fake.FailNextREST(startupFailures, http.StatusServiceUnavailable, 0)
	cfg := testConfig()
	cfg.BackoffMin, cfg.BackoffMax, cfg.BackoffReset = 10*time.Millisecond, 10*time.Second, 100*time.Millisecond
	recv := newReceiver(t, nil)
	r := startAgent(t, cfg, recv.url, WebsocketSource(newClient(t, fake, fake.APIKey()), dialpad.ID(wsID)))
	r.logs.waitFind(t, 1, "INFO", "connected")
	// The next REST call is the rotation's fetch, 600ms after the open.
	fake.FailNextREST(1, http.StatusServiceUnavailable, 0)
	fails := r.logs.waitFind(t, startupFailures+1, "WARN", "connect failed")
	r.logs.waitFind(t, 2, "INFO", "connected") // the retry after it
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	var waits []time.Duration
	for _, f := range fails {
		d, err := time.ParseDuration(f.str("retry_in"))
		if err != nil {
			t.Fatalf("retry_in of %v: %v", f, err)
		}
		waits = append(waits, d)
	}
	if got := waits[startupFailures]; got > cfg.BackoffMin {
		t.Errorf("the rotation's failed fetch waits %s, want at most BackoffMin %s (start-up waits %v)",
			got, cfg.BackoffMin, waits[:startupFailures])
	}
	if st := r.a.Stats(); st.Gaps != 0 || st.Reconnects != 0 {
		t.Errorf("stats %+v: want no gap and no unplanned reconnect", st)
	}
}

// A source kept connected for BackoffReset across rotations starts its
// backoff afresh after a drop, though none of its connections lived that
// long on its own (tokens shorter than BackoffReset, as the emulator's
// --token-ttl 30s, or connections replaced for slow pongs). Each drop used
// to double the wait left over from the last: over a bad network, drops
// minutes apart, with healthy rotations between them, waited 0.4 s, 0.7 s,
// 1.7 s, 2 s, 6 s, 9 s, then 28 s without a connection.
func TestBackoffResetsAcrossRotations(t *testing.T) {
	const startupFailures = 6
	fake := newFake(t, dialpadtest.Config{TokenTTL: 400 * time.Millisecond}) // rotates 100ms before exp
	wsID := fake.AddWebsocket("")
	addSub(t, fake, "sms", wsID)
	fake.FailNextREST(startupFailures, http.StatusServiceUnavailable, 0) // the step grows to 640ms
	cfg := testConfig()
	cfg.BackoffMin, cfg.BackoffMax, cfg.BackoffReset = 10*time.Millisecond, 10*time.Second, time.Second
	recv := newReceiver(t, nil)
	r := startAgent(t, cfg, recv.url, WebsocketSource(newClient(t, fake, fake.APIKey()), dialpad.ID(wsID)))
	r.logs.waitFind(t, startupFailures, "WARN", "connect failed")
	// Five connections, each rotated 300ms after its fetch: the source has
	// been up for more than BackoffReset, no connection for as long.
	r.logs.waitFind(t, 5, "INFO", "connected")
	// A drop during a handover whose new connection the fake accepted
	// just after it leaves the source connected (no disconnect, rightly):
	// drop again until one is lost. The source stays up meanwhile, so
	// every drop finds it up for BackoffReset.
	reconnected := func() bool { return r.a.Stats().Reconnects > 0 }
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(testWait); !reconnected(); {
		if time.Now().After(deadline) {
			t.Fatalf("no disconnect after dropping the connections for %s; log:\n%s", testWait, r.logs)
		}
		fake.DropConnectionsAbruptly()
		for poll := time.Now().Add(time.Second); !reconnected() && time.Now().Before(poll); {
			<-tick.C
		}
	}
	r.logs.waitFind(t, 1, "WARN", "events sent by Dialpad in this window were missed (no open connection)")
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	var lines []logRecord
	for _, msg := range []string{"disconnected; reconnecting after backoff", "new connection lost during the handover; keeping the previous one"} {
		lines = append(lines, r.logs.find(t, "WARN", msg)...)
	}
	for _, l := range lines {
		if d, err := time.ParseDuration(l.str("retry_in")); err != nil || d > cfg.BackoffMin {
			t.Errorf("after %s up across rotations, a drop waits %s, want at most BackoffMin %s: %v", cfg.BackoffReset, l.str("retry_in"), cfg.BackoffMin, l)
		}
	}
}
