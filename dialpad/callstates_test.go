package dialpad

import "testing"

// TestWellFormedCallState: every known state is well formed, and so is a
// state of the same shape Dialpad may add; what no state looks like is not.
func TestWellFormedCallState(t *testing.T) {
	for _, s := range CallStates() {
		if !WellFormedCallState(s) {
			t.Errorf("known state %q is not well formed", s)
		}
	}
	for s, want := range map[string]bool{
		"warm_transfer": true, "recap2": true, "hangpu": true,
		"": false, "ring ing": false, "Hangup": false, "hang-up": false, "_x": false, "x_": false,
		"a__b": false, "1st": false, "hangup!": false, "état": false,
		"a2345678901234567890123456789012345678901234567890123456789012345": false,
	} {
		if got := WellFormedCallState(s); got != want {
			t.Errorf("WellFormedCallState(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestNearestCallState: a typo gets the state it is a typo of; a new
// state unlike any gets none.
func TestNearestCallState(t *testing.T) {
	for s, want := range map[string]string{
		"hangpu": "hangup", "rigning": "ringing", "voicemail_uplodaed": "voicemail_uploaded",
		"ring ing": "ringing", "Hangup": "hangup", "conected": "connected",
		"warm_transfer": "", "ai_summary": "", "xyz": "",
	} {
		if got := NearestCallState(s); got != want {
			t.Errorf("NearestCallState(%q) = %q, want %q", s, got, want)
		}
	}
}
