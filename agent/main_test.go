package agent

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testWait bounds every wait in the tests; a healthy run needs a fraction
// of it.
const testWait = 10 * time.Second

// syncBuffer collects the agent's JSON log lines; it is safe for the
// agent's concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logRecord is one decoded slog JSON line.
type logRecord map[string]any

func (r logRecord) str(k string) string {
	s, _ := r[k].(string)
	return s
}

// records decodes every complete log line so far.
func (s *syncBuffer) records(t *testing.T) []logRecord {
	t.Helper()
	var out []logRecord
	for line := range strings.SplitSeq(s.String(), "\n") {
		if line == "" {
			continue
		}
		var r logRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		out = append(out, r)
	}
	return out
}

// find returns the records with this level and message.
func (s *syncBuffer) find(t *testing.T, level, msg string) []logRecord {
	t.Helper()
	var out []logRecord
	for _, r := range s.records(t) {
		if r.str("level") == level && r.str("msg") == msg {
			out = append(out, r)
		}
	}
	return out
}

// waitFind polls the log until at least n records with level and msg are
// there, and returns them.
func (s *syncBuffer) waitFind(t *testing.T, n int, level, msg string) []logRecord {
	t.Helper()
	var got []logRecord
	waitUntil(t, testWait, func() bool {
		got = s.find(t, level, msg)
		return len(got) >= n
	}, func() string {
		return "log has fewer than " + itoa(n) + " " + level + " " + strings.TrimSpace(msg) + " lines:\n" + s.String()
	})
	return got
}

// waitUntil polls cond every few milliseconds until it holds, or fails the
// test with what() after within.
func waitUntil(t *testing.T, within time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("after %s: %s", within, what())
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
