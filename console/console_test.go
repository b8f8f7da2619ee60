package console

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestHandlerLines(t *testing.T) {
	for _, tc := range []struct {
		name string
		log  func(*slog.Logger)
		want string
	}{
		{"event arrived", func(l *slog.Logger) {
			l.Info("event arrived", "type", "call", "detail", "ringing", "id", "0123456789abcdef", "key", "call:1")
		}, "--> call ringing [01234567]  key=call:1\n"},
		{"event delivered", func(l *slog.Logger) {
			l.Info("event delivered", "type", "sms", "id", "abcdefghij", "status", 204, "attempts", 1)
		}, "<-- [204] sms [abcdefgh]  attempts=1\n"},
		{"delivery failed without answer", func(l *slog.Logger) {
			l.Error("delivery failed", "type", "call", "id", "x", "status", 0, "reason", "connection refused")
		}, "<-- [---] FAILED call [x]  reason=\"connection refused\"\n"},
		{"other", func(l *slog.Logger) { l.Warn("disconnected", "reason", "closed") }, "WARN  disconnected  reason=closed\n"},
		// Event fields come from outside: no escape sequence reaches the
		// terminal, no newline forges a line.
		{"escape sequences and newlines quoted", func(l *slog.Logger) {
			l.Info("event arrived", "type", "call", "detail", "\x1b[31mringing", "id", "0123456789abcdef", "key", "call:1\nWARN forged")
		}, "--> call \"\\x1b[31mringing\" [01234567]  key=\"call:1\\nWARN forged\"\n"},
		{"invalid UTF-8 quoted", func(l *slog.Logger) {
			l.Info("event arrived", "type", "call", "detail", "\x9b31m", "id", "0123456789abcdef")
		}, "--> call \"\\x9b31m\" [01234567]\n"},
		{"below level", func(l *slog.Logger) { l.Debug("noise") }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			tc.log(slog.New(NewHandler(&b, slog.LevelInfo)))
			got := b.String()
			if tc.want == "" {
				if got != "" {
					t.Fatalf("got %q, want nothing", got)
				}
				return
			}
			// drop the "15:04:05.000 " time stamp
			if len(got) < 13 || !strings.HasSuffix(got, tc.want) || len(got) != 13+len(tc.want) {
				t.Fatalf("got %q, want time + %q", got, tc.want)
			}
		})
	}
}

// TestClip: a long text is cut on a rune boundary with a mark, a short one
// is kept, and invalid UTF-8 is replaced before the cut.
func TestClip(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"héllo world", 2, "h…"}, // "é" is two bytes: not split
		{"héllo world", 3, "hé…"},
		{"a\xffb", 10, "a\uFFFDb"},
		{"", 0, ""},
	} {
		if got := Clip(tc.in, tc.n); got != tc.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
