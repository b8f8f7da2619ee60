package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain keeps every default spool and state file of the tests in a
// temporary directory, and checks for leaked goroutines.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dialpad-tunnel-test-state-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_STATE_HOME", dir)
	// listen sets GOMAXPROCS (--procs) unless the environment does; the
	// tests run it in this process, which keeps its own.
	os.Setenv("GOMAXPROCS", strconv.Itoa(runtime.GOMAXPROCS(0)))
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { os.RemoveAll(dir) }))
}

// syncBuffer is an io.Writer safe for the agent's concurrent log lines.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // a send after every write, dropped when full
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{}, 1)
	}
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return s.b.Write(p)
}

func (s *syncBuffer) notify() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{}, 1)
	}
	return s.changed
}

// waitFor blocks until the output contains want.
func (s *syncBuffer) waitFor(t *testing.T, want string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for !strings.Contains(s.String(), want) {
		select {
		case <-s.notify():
		case <-deadline:
			t.Fatalf("output has no %q within %s:\n%s", want, within, s.String())
		}
	}
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run is one in-process run of the CLI, as a user would type it.
type run struct {
	stdout, stderr syncBuffer
	done           chan error
	cancel         context.CancelFunc
}

// start runs `dialpad-tunnel args…` until stop is called or it exits.
func start(t *testing.T, args ...string) *run {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{done: make(chan error, 1), cancel: cancel}
	go func() {
		r.done <- runArgs(ctx, &r.stdout, &r.stderr, append([]string{"dialpad-tunnel"}, args...))
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop interrupts the run (like Ctrl-C) and returns its error.
func (r *run) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
			return err
		}
		return nil
	case <-time.After(30 * time.Second):
		t.Fatalf("dialpad-tunnel did not stop within 30s; output:\n%s", r.stdout.String())
		return nil
	}
}

// wait returns the run's error once it exits on its own.
func (r *run) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case err := <-r.done:
		close(r.done)
		return err
	case <-time.After(within):
		t.Fatalf("dialpad-tunnel still running after %s; output:\n%s", within, r.stdout.String())
		return nil
	}
}

// hook is a webhook handler that records every POST it receives.
type hook struct {
	*httptest.Server
	mu       sync.Mutex
	requests []received
	arrived  chan struct{} // one send per request, buffered
	answer   func(n int) int
}

type received struct {
	body   []byte
	header http.Header
	at     time.Time // when the handler got it
}

// newHook starts a handler; answer gives the status of the n-th request
// (1-based); nil always answers 200.
func newHook(t *testing.T, answer func(n int) int) *hook {
	h := &hook{arrived: make(chan struct{}, 1<<16), answer: answer}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("hook: read body: %v", err)
		}
		h.mu.Lock()
		h.requests = append(h.requests, received{body: body, header: r.Header.Clone(), at: time.Now()})
		n := len(h.requests)
		h.mu.Unlock()
		status := http.StatusOK
		if h.answer != nil {
			status = h.answer(n)
		}
		w.WriteHeader(status)
		h.arrived <- struct{}{}
	}))
	t.Cleanup(h.Close)
	return h
}

// waitRequests blocks until the hook has seen n requests.
func (h *hook) waitRequests(t *testing.T, n int, within time.Duration) []received {
	t.Helper()
	deadline := time.After(within)
	for {
		h.mu.Lock()
		got := append([]received(nil), h.requests...)
		h.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-h.arrived:
		case <-deadline:
			t.Fatalf("hook got %d requests within %s, want %d", len(got), within, n)
		}
	}
}

func digest(b []byte) [sha256.Size]byte { return sha256.Sum256(b) }

func mustContain(t *testing.T, out, want string) {
	t.Helper()
	if !strings.Contains(out, want) {
		t.Fatalf("output does not contain %q:\n%s", want, out)
	}
}
