package spool

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// messages is a slog handler that passes each record's message on.
type messages chan string

func (m messages) Enabled(context.Context, slog.Level) bool { return true }
func (m messages) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		msg += " " + a.String()
		return true
	})
	m <- msg
	return nil
}
func (m messages) WithAttrs([]slog.Attr) slog.Handler { return m }
func (m messages) WithGroup(string) slog.Handler      { return m }

// waitMessage reads logged messages (each with its attributes, as
// key=value) until one contains want, and returns it.
func waitMessage(t *testing.T, m messages, want string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case msg := <-m:
			if strings.Contains(msg, want) {
				return msg
			}
		case <-deadline:
			t.Fatalf("no log message with %q", want)
		}
	}
}
