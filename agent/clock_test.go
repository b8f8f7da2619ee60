package agent

import (
	"fmt"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestClockOffRotatesByTokenLifetime: with this host's clock off from
// Dialpad's by more than a token's lifetime, connections rotate by the
// token's lifetime (exp - iat), logged once. With the host ahead the tokens
// look expired when fetched, and connections used to rotate at once and
// without end (thousands of fetches a second); with it behind their exp
// looks hours away, and Dialpad closed each connection first, a gap each
// time.
func TestClockOffRotatesByTokenLifetime(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offset time.Duration // Dialpad's clock from the host's
	}{
		{"host ahead", -2 * time.Hour},
		{"host behind", 2 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const ttl = 400 * time.Millisecond
			start := time.Now()
			fake, _, r := smsAgent(t, dialpadtest.Config{TokenTTL: ttl, ClockOffset: tc.offset})
			waitUntil(t, testWait, func() bool { return fake.Handshakes() >= 4 },
				func() string { return fmt.Sprintf("%d handshakes, want 4; stats %+v", fake.Handshakes(), r.a.Stats()) })
			// Three rotations, each a quarter of the lifetime before the
			// token's end: at least 0.9 s; at once and without end, far less.
			if elapsed := time.Since(start); elapsed < 2*ttl {
				t.Errorf("4 connections within %s: rotating without waiting for the tokens' lifetime", elapsed)
			}
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}
			if st := r.a.Stats(); st.Gaps != 0 || st.Reconnects != 0 {
				t.Errorf("stats %+v: want no gap and no unplanned reconnect (rotations before Dialpad's close)", st)
			}
			if n := len(r.logs.find(t, "WARN", "this host's clock is off from Dialpad's (set it by NTP): connections rotate by the token's lifetime, not its expiry time")); n != 1 {
				t.Errorf("%d clock warnings, want 1; log:\n%s", n, r.logs)
			}
		})
	}
}
