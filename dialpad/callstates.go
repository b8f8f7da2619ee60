package dialpad

import (
	"slices"
	"strings"

	"github.com/xrash/smetrics"
)

// maxCallStateLen bounds a call state's length; the longest known one,
// recap_action_items, has 18 bytes.
const maxCallStateLen = 64

// WellFormedCallState reports whether s looks like a call state, known or
// not: lower-case words of letters and digits joined by single "_",
// starting with a letter, at most 64 bytes, as every state in CallStates
// is. A state Dialpad adds later is expected to look the same; anything
// else (empty, a space, upper case, punctuation) is surely a mistake.
func WellFormedCallState(s string) bool {
	if s == "" || len(s) > maxCallStateLen || s[0] < 'a' || s[0] > 'z' || s[len(s)-1] == '_' {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '_' && s[i-1] != '_':
		default:
			return false
		}
	}
	return true
}

// ForgiveCallState is s with what a person may type for a call state
// forgiven: upper case, and "-" for "_" (Hangup, voicemail-uploaded are
// hangup, voicemail_uploaded). What it gives may still not be well formed
// (a space, punctuation): see WellFormedCallState. --call-states and a
// setup file's call_states both forgive this way.
func ForgiveCallState(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "-", "_")
}

// NearestCallState returns the state of CallStates that s is most likely
// a typo of (hangpu: hangup), or "" when none is close: the nearest by
// edit distance (Levenshtein's, by smetrics, which the command line's own
// suggestions come from too), if that distance is at most 2 and at most a
// third of s's length.
func NearestCallState(s string) string {
	best, bestDist := "", 0
	limit := min(2, max(1, len(s)/3))
	for _, st := range CallStates() {
		if d := smetrics.WagnerFischer(s, st, 1, 1, 1); d <= limit && (best == "" || d < bestDist) {
			best, bestDist = st, d
		}
	}
	return best
}

// UnknownCallStates are the states of list that this version does not
// know: well formed, they may be ones Dialpad added since, or typos.
func UnknownCallStates(list []string) []string {
	var out []string
	for _, s := range list {
		if !slices.Contains(CallStates(), s) {
			out = append(out, s)
		}
	}
	return out
}

// CallStateHint is "; did you mean STATE?" when s is likely a typo of the
// known STATE (NearestCallState), for a message about s; else "".
func CallStateHint(s string) string {
	if n := NearestCallState(s); n != "" {
		return "; did you mean " + n + "?"
	}
	return ""
}
