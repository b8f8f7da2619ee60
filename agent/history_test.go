package agent

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// TestLongOutageKeepsHistoryBounded: an event retried more times than a
// history keeps (a handler down for hours) keeps its first and last
// attempts and a summary of the rest, in memory and in the spool, while
// it still counts every attempt: in the attempt header, which goes on
// across the Forwarder calls, and in its record once delivered. (Every
// attempt used to be kept: a day's outage grew memory by hundreds of MB.)
func TestLongOutageKeepsHistoryBounded(t *testing.T) {
	const failures = 3*keepEveryAttempt + 20
	var mu sync.Mutex
	var headers []string
	handler := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		mu.Lock()
		headers = append(headers, req.Header.Get(forward.DefaultAttemptHeader))
		n := len(headers)
		mu.Unlock()
		if n <= failures {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(handler.Close)
	disk, stopDisk := runDisk(t)
	fake := newFake(t, dialpadtest.Config{})
	wsID := fake.AddWebsocket("")
	addSub(t, fake, "sms", wsID)
	cfg := testConfig()
	cfg.Queue = disk
	cfg.Forwarder = newForwarder(t, forward.Config{URL: handler.URL, MaxAttempts: forward.Unlimited,
		RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond})
	r := startAgent(t, cfg, handler.URL, WebsocketSource(newClient(t, fake, fake.APIKey()), dialpad.ID(wsID)))
	waitConns(t, fake, 1)
	publish(t, fake, "sms", dialpadtest.NewGenerator(47).SMS(), 1)
	r.logs.waitFind(t, 1, "INFO", "event delivered")
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := stopDisk(); err != nil {
		t.Fatalf("spool Run: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(headers) != failures+1 {
		t.Fatalf("%d POSTs, want %d", len(headers), failures+1)
	}
	for i, h := range headers {
		if h != strconv.Itoa(i+1) {
			t.Fatalf("POST %d had attempt header %q, want %d", i+1, h, i+1)
		}
	}
	recs, err := spool.List(disk.Path(), spool.Delivered)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d delivered records, want 1", len(recs))
	}
	as := recs[0].Attempts
	if n := spool.CountAttempts(as); n != failures+1 || len(as) != spool.KeptFirst+1+spool.KeptLast {
		t.Fatalf("delivered record: %d entries standing for %d attempts, want %d standing for %d",
			len(as), n, spool.KeptFirst+1+spool.KeptLast, failures+1)
	}
	if sum := as[spool.KeptFirst]; sum.Omitted != failures+1-spool.KeptFirst-spool.KeptLast {
		t.Errorf("summary %+v, want %d attempts omitted", sum, failures+1-spool.KeptFirst-spool.KeptLast)
	}
	if last := as[len(as)-1]; last.Status != http.StatusNoContent || as[0].Status != http.StatusServiceUnavailable {
		t.Errorf("first attempt %+v, last %+v; want the first 503 and the last 204", as[0], last)
	}
}
