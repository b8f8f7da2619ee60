package spool

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the logger's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestMemoryLogsDurationAsText: with JSON logs, the "down to half its
// bound" line gives how long the queue was full as text ("1.5s"), as every
// other duration in the log is (retry_in, wait, gap, latency), not as a
// number of nanoseconds. (Before: "after":1500000000.)
func TestMemoryLogsDurationAsText(t *testing.T) {
	var buf lockedBuffer
	q := NewMemory(MemoryConfig{MaxBytes: 20, Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	body := []byte("0123456789")
	for _, k := range []string{"a", "b"} {
		if err := q.Append(Event{ID: k, Key: k, Body: body}, nil); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- q.Append(Event{ID: "c", Key: "c", Body: body}, nil) }()
	waitPaused(t, q)
	q.Ack(nextMem(t, q), nil)
	q.Ack(nextMem(t, q), nil)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	q.Ack(nextMem(t, q), nil)

	var found bool
	for _, line := range bytes.Split(bytes.TrimSpace([]byte(buf.String())), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line not JSON: %s", line)
		}
		after, ok := m["after"]
		if !ok {
			continue
		}
		found = true
		s, isText := after.(string)
		if !isText {
			t.Errorf(`"after" is %T (%v), want a duration as text like "1.5s": %s`, after, after, line)
		} else if _, err := time.ParseDuration(s); err != nil {
			t.Errorf(`"after" = %q does not parse as a duration`, s)
		}
	}
	if !found {
		t.Fatalf("no line with \"after\" in the log:\n%s", buf.String())
	}
}
