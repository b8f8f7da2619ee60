package dialpad_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testKey is the API key of the httptest handlers; it must appear in no
// error string and no log line.
const testKey = "sk_live_SECRET_test_key_42"

// serve starts an httptest server for h, closed when the test ends.
func serve(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// newClient returns a client for baseURL with fast retries; mutate, when
// non-nil, adjusts the config first.
func newClient(t *testing.T, baseURL string, mutate func(*dialpad.Config)) *dialpad.Client {
	t.Helper()
	cfg := dialpad.Config{
		BaseURL:      baseURL,
		APIKey:       testKey,
		Timeout:      5 * time.Second,
		MaxRetries:   3,
		RetryWaitMin: time.Millisecond,
		RetryWaitMax: 5 * time.Millisecond,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := dialpad.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// logBuffer is a concurrency-safe sink for a debug text logger.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
