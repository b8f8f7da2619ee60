package dialpadtest

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
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

// TestWebhookFailureLogSaysWhy: a webhook POST that fails before any
// answer is logged (at debug, as `trigger` tells the user to look) with
// why, here a refused connection, and still without the hook URL's path or
// query, under "error" as every other log line's error. (Before: "webhook
// 1: post failed", whatever the cause, under "err".)
func TestWebhookFailureLogSaysWhy(t *testing.T) {
	var logged syncBuffer
	s := newServer(t, Config{Logger: slog.New(slog.NewJSONHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	id := s.AddWebhook("http://"+addr+"/hooks/path-secret?token=query-secret", "")
	if _, err := s.AddSubscription("call", id, SubscriptionOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := s.Publish("call", []byte(callEvent)); d.WebhookErrors != 1 {
		t.Fatalf("delivery %+v, want one webhook error", d)
	}
	out := logged.String()
	if !strings.Contains(out, `"error":"webhook `) || !strings.Contains(out, "connection refused") {
		t.Errorf("log does not say, under \"error\", that the connection was refused:\n%s", out)
	}
	for _, secret := range []string{"path-secret", "query-secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("log shows the hook URL's %s:\n%s", secret, out)
		}
	}
}
