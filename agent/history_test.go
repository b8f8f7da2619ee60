package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
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
	src, fake := smsFake(t)
	cfg := testConfig()
	cfg.Queue = disk
	cfg.Forwarder = newForwarder(t, forward.Config{URL: handler.URL, MaxAttempts: forward.Unlimited,
		RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond})
	r := startAgent(t, cfg, handler.URL, src)
	waitConns(t, fake, 1)
	publish(t, fake, "sms", dialpadtest.NewGenerator(47).SMS(), 1)
	// 321 attempts, each written to the spool: a loaded machine with
	// -race (GOMAXPROCS=1) made about 20 a second, past testWait; the
	// deadline is only a guard.
	waitUntil(t, 6*testWait, func() bool { return len(r.logs.find(t, "INFO", "event delivered")) >= 1 },
		func() string {
			mu.Lock()
			defer mu.Unlock()
			return fmt.Sprintf("event not delivered after %d POSTs", len(headers))
		})
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

// spoolWithTried makes a spool holding one pending SMS event with n
// failed attempts, the last two hours ago, and returns it running.
func spoolWithTried(t *testing.T, n int) (disk *spool.Disk, stop func() error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.spool")
	d, err := spool.OpenDisk(spool.DiskConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	stopFirst := runSpool(t, d)
	if err := d.Append(spool.Event{ID: "7e1a3c55-0000-4000-8000-000000000001", Key: "sms:1", Type: "sms", Body: dialpadtest.NewGenerator(79).SMS(),
		Received: time.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	next, stopNext := context.WithTimeout(context.Background(), testWait)
	defer stopNext()
	ev, err := d.Next(next)
	if err != nil {
		t.Fatal(err)
	}
	tried := make([]spool.Attempt, n)
	for i := range tried {
		tried[i] = spool.Attempt{At: time.Now().Add(-2 * time.Hour), Status: http.StatusServiceUnavailable}
	}
	d.Tried(ev, spool.Keep(tried))
	d.Close()
	if err := stopFirst(); err != nil {
		t.Fatal(err)
	}
	if disk, err = spool.OpenDisk(spool.DiskConfig{Path: path}); err != nil {
		t.Fatal(err)
	}
	return disk, runSpool(t, disk)
}

// attemptsKept stops disk and returns how many attempts its one pending
// event has.
func attemptsKept(t *testing.T, disk *spool.Disk, stop func() error) int {
	t.Helper()
	if err := stop(); err != nil {
		t.Fatalf("spool Run: %v", err)
	}
	recs, err := spool.List(disk.Path(), spool.Pending)
	if err != nil || len(recs) != 1 {
		t.Fatalf("pending after the stop: %d events (%v), want 1", len(recs), err)
	}
	return spool.CountAttempts(recs[0].Attempts)
}

// TestStopKeepsEveryAttempt: past keepEveryAttempt attempts only every
// keepEveryAttempt-th is written as it goes; a stop writes all of them,
// during the wait before the next attempt and when the drain cuts one
// short, so that the next start goes on from the right count. (A
// black-box review saw 275 attempts kept as 200 at a Ctrl-C, attempts
// 201-275 sent again after the restart, and --max-attempts overshot.)
func TestStopKeepsEveryAttempt(t *testing.T) {
	t.Run("waiting", func(t *testing.T) {
		failing, posts := unavailable(t)
		disk, stopDisk := spoolWithTried(t, keepEveryAttempt+48)
		cfg := testConfig()
		cfg.Queue = disk
		cfg.Forwarder = newForwarder(t, forward.Config{URL: failing.URL, MaxAttempts: forward.Unlimited,
			RetryWaitMin: time.Hour, RetryWaitMax: time.Hour})
		r := startAgent(t, cfg, failing.URL, smsSource(t))
		r.logs.waitFind(t, 1, "DEBUG", "waiting for the next attempt") // after attempt 149, an hour's wait
		if err := r.stop(t); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if n, want := attemptsKept(t, disk, stopDisk), keepEveryAttempt+48+int(posts.Load()); n != want || want != keepEveryAttempt+49 {
			t.Errorf("%d attempts kept, want %d", n, want)
		}
	})
	t.Run("cut short", func(t *testing.T) {
		var calls atomic.Int32
		hanging := make(chan struct{})
		handler := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			_, _ = io.Copy(io.Discard, req.Body)
			if calls.Add(1) == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			close(hanging)
			<-req.Context().Done() // the drain timeout cancels it
		}))
		t.Cleanup(handler.Close)
		disk, stopDisk := spoolWithTried(t, keepEveryAttempt+1)
		cfg := testConfig()
		cfg.Queue = disk
		cfg.DrainTimeout = 50 * time.Millisecond
		cfg.Forwarder = newForwarder(t, forward.Config{URL: handler.URL, MaxAttempts: forward.Unlimited,
			RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond})
		r := startAgent(t, cfg, handler.URL, smsSource(t))
		select {
		case <-hanging: // attempt 103; 102 failed and was not written
		case <-time.After(testWait):
			t.Fatal("no second attempt")
		}
		if err := r.stop(t); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if n := attemptsKept(t, disk, stopDisk); n != keepEveryAttempt+2 {
			t.Errorf("%d attempts kept, want %d: the one cut short not counted, the one before it counted", n, keepEveryAttempt+2)
		}
	})
}

// smsSource is a websocket of a new fake Dialpad subscribed to SMS events.
func smsSource(t *testing.T) Source {
	t.Helper()
	src, _ := smsFake(t)
	return src
}

// smsFake is smsSource with its fake, to publish through.
func smsFake(t *testing.T) (Source, *dialpadtest.Server) {
	t.Helper()
	fake := newFake(t, dialpadtest.Config{})
	wsID := fake.AddWebsocket("")
	addSub(t, fake, "sms", wsID)
	return WebsocketSource(newClient(t, fake, fake.APIKey()), dialpad.ID(wsID)), fake
}

// TestMaxAgeBetweenCallsNamesLastAnswer: an event that reaches its max age
// while the agent waits between attempts (past keepEveryAttempt, or after
// a restart) is a dead letter whose line gives the last answer's status,
// not none. (A black-box review saw `[---] FAILED` after 154 attempts
// answered 429.)
func TestMaxAgeBetweenCallsNamesLastAnswer(t *testing.T) {
	failing, posts := unavailable(t)
	// Attempt 151 is due at once, the next after the max age.
	disk, _ := spoolWithTried(t, keepEveryAttempt+50)
	cfg := testConfig()
	cfg.Queue = disk
	cfg.MaxAge = 300 * time.Millisecond
	cfg.Forwarder = newForwarder(t, forward.Config{URL: failing.URL, MaxAttempts: forward.Unlimited,
		RetryWaitMin: time.Hour, RetryWaitMax: time.Hour})
	r := startAgent(t, cfg, failing.URL, smsSource(t))
	failed := r.logs.waitFind(t, 1, "ERROR", "delivery failed")
	if status := failed[0]["status"]; status != float64(http.StatusServiceUnavailable) || posts.Load() != 1 {
		t.Errorf("dead letter line's status = %v after %d POSTs, want the last answer's, 503, after one", status, posts.Load())
	}
}

// TestMaxAgeLetsAttemptInFlightFinish: the max age starts no attempt, and
// cuts none short: one in flight when it comes goes on (within --timeout),
// and if the handler takes the event it is delivered, not a dead letter.
// (A black-box review saw 57 dead letters the handler had answered 204:
// a key's next events, handed out just before their max age, were POSTed
// and then cut short.)
func TestMaxAgeLetsAttemptInFlightFinish(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		time.Sleep(300 * time.Millisecond) // the handler's own work, past the max age
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(slow.Close)
	src, fake := smsFake(t)
	cfg := testConfig()
	cfg.MaxAge = 100 * time.Millisecond
	r := startAgent(t, cfg, slow.URL, src)
	waitConns(t, fake, 1)
	publish(t, fake, "sms", dialpadtest.NewGenerator(83).SMS(), 1)
	waitUntil(t, testWait, func() bool { st := r.a.Stats(); return st.Delivered+st.Failed == 1 },
		func() string { return fmt.Sprintf("stats %+v, want the event ended", r.a.Stats()) })
	if st := r.a.Stats(); st.Delivered != 1 {
		t.Errorf("stats %+v, want the event the handler took delivered\nlog:\n%s", st, r.logs)
	}
}
