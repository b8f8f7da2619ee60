package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// TestAttemptsCarryOverRestart: the attempts made on an event before the
// agent stops count after it starts again: toward --max-attempts, in the
// attempt header, in the wait before the next one, and in the dead letter's
// history. `events show` lists them while the event is still pending.
func TestAttemptsCarryOverRestart(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, func(int) int { return http.StatusServiceUnavailable })
	path := filepath.Join(t.TempDir(), "events.spool")
	args := func(wait string) []string {
		return listenArgs(srv, wsID, h.URL, "--spool", path, "--max-attempts", "3",
			"--retry-wait-min", wait, "--retry-wait-max", wait)
	}

	r := start(t, args("1h")...) // one attempt, then a long wait
	r.waitConnected(t, srv, 1)
	typ, ev := dialpadtest.NewGenerator(4).Next()
	srv.Publish(typ, ev)
	id := h.waitRequests(t, 1, 10*time.Second)[0].header.Get(forward.DefaultIDHeader)
	if err := r.stop(t); err != nil {
		t.Fatalf("first run: %v", err)
	}
	if show := mustCLI(t, "events", "show", "--spool", path, id); !strings.Contains(show, "attempts: 1\n") {
		t.Errorf("events show of the pending event after the first run:\n%s\nwant its 1 attempt", show)
	}

	r = start(t, args("500ms")...)
	r.waitConnected(t, srv, 1)
	r.stdout.waitFor(t, "] FAILED ", 10*time.Second)
	for _, line := range strings.Split(r.stdout.String(), "\n") {
		if strings.Contains(line, "] FAILED ") && !strings.Contains(line, "attempts=3") {
			t.Errorf("dead-letter line %q, want attempts=3", line)
		}
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("second run: %v", err)
	}
	var headers []string
	reqs := h.waitRequests(t, 3, time.Second)
	for _, req := range reqs {
		headers = append(headers, req.header.Get(forward.DefaultAttemptHeader))
	}
	if !slices.Equal(headers, []string{"1", "2", "3"}) {
		t.Errorf("attempt headers %v across the two runs, want 1, 2, 3 and no more", headers)
	}
	// The restarted agent waits out the retry wait after the first run's
	// attempt (500ms, as configured for the second run) before resuming.
	if gap := reqs[1].at.Sub(reqs[0].at); gap < 500*time.Millisecond {
		t.Errorf("second attempt %s after the first, across the restart; want at least the 500ms retry wait", gap)
	}
	if show := mustCLI(t, "events", "show", "--spool", path, id); !strings.Contains(show, "attempts: 3\n") {
		t.Errorf("events show of the dead letter:\n%s\nwant its 3 attempts", show)
	}
}

// TestLowerMaxAttemptsDeadAtOnce: an event that already had as many
// attempts as a restarted listen's lower --max-attempts allows is a dead
// letter at once, naming both counts; it used to wait out the rest of its
// retry wait first (an hour here), holding its key's later events.
func TestLowerMaxAttemptsDeadAtOnce(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, func(int) int { return http.StatusServiceUnavailable })
	path := filepath.Join(t.TempDir(), "events.spool")
	args := func(max string) []string {
		return listenArgs(srv, wsID, h.URL, "--spool", path, "--max-attempts", max,
			"--retry-wait-min", "1h", "--retry-wait-max", "1h")
	}
	r := start(t, args("0")...) // one attempt, then an hour's wait
	r.waitConnected(t, srv, 1)
	typ, ev := dialpadtest.NewGenerator(5).Next()
	srv.Publish(typ, ev)
	h.waitRequests(t, 1, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("first run: %v", err)
	}

	r = start(t, args("1")...)
	r.stdout.waitFor(t, "] FAILED ", 10*time.Second)
	r.stdout.waitFor(t, "gave up: 1 attempt made before this start; --max-attempts is 1", time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if n := len(h.waitRequests(t, 1, 0)); n != 1 {
		t.Errorf("handler got %d attempts across the runs, want the first run's 1", n)
	}
}

// TestEventsShowSummarisesAttemptsNotKept: an event retried longer than
// its history keeps is listed with every attempt counted, and shown with
// its first and last attempts and one line for the ones between.
func TestEventsShowSummarisesAttemptsNotKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	at := time.Now().Add(-time.Hour)
	var tried []spool.Attempt
	for i := range 300 {
		tried = append(tried, spool.Attempt{At: at.Add(time.Duration(i) * time.Second), Status: http.StatusServiceUnavailable, Duration: time.Millisecond})
	}
	var id string
	spoolBatch(t, path, func(d *spool.Disk) {
		appendEvent(t, d, "0badcafe-1")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ev, err := d.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id = ev.ID
		d.Dead(ev, "gave up", spool.Keep(tried))
	})

	list := listJSON(t, "--spool", path)
	if len(list) != 1 || len(list[0].Attempts) != spool.KeptFirst+1+spool.KeptLast || list[0].Attempts[spool.KeptFirst].Omitted != 200 {
		t.Fatalf("events list --json = %+v, want one event with %d attempts, the 11th a summary of 200", list, spool.KeptFirst+1+spool.KeptLast)
	}
	if out := mustCLI(t, "events", "list", "--spool", path); !strings.Contains(out, " 300 ") {
		t.Errorf("events list:\n%s\nwant the 300 attempts counted", out)
	}
	show := mustCLI(t, "events", "show", "--spool", path, id)
	for _, want := range []string{"attempts: 300 (the first 10 and the last 90 are kept)\n", "\n10 ", "\n11-210 ", "200 attempts not kept\n", "\n211 ", "\n300 "} {
		if !strings.Contains(show, want) {
			t.Errorf("events show lacks %q:\n%s", want, show)
		}
	}
}

// TestRetryAfterCarriesOverRestart: a handler's Retry-After is kept with
// the attempt it answered, shown by `events show`, and waited out by the
// next run, as by the run that got it. (Before, a restart forgot it and
// retried after the plain backoff.)
func TestRetryAfterCarriesOverRestart(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	var (
		mu  sync.Mutex
		ats []time.Time
	)
	got := make(chan struct{}, 8)
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		ats = append(ats, time.Now())
		first := len(ats) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		got <- struct{}{}
	}))
	t.Cleanup(h.Close)
	path := filepath.Join(t.TempDir(), "events.spool")
	args := listenArgs(srv, wsID, h.URL, "--spool", path, "--retry-wait-min", "10ms", "--retry-wait-max", "1m")

	r := start(t, args...)
	r.waitConnected(t, srv, 1)
	typ, ev := dialpadtest.NewGenerator(5).Next()
	srv.Publish(typ, ev)
	<-got
	if err := r.stop(t); err != nil { // during the 2 s the handler asked for
		t.Fatalf("first run: %v", err)
	}
	recs := listJSON(t, "--pending", "--spool", path)
	if len(recs) != 1 {
		t.Fatalf("%d events pending after the first run, want 1", len(recs))
	}
	if show := mustCLI(t, "events", "show", "--spool", path, recs[0].ID); !strings.Contains(show, "Retry-After 2s") {
		t.Errorf("events show:\n%s\nwant the attempt's Retry-After", show)
	}

	restarted := time.Now()
	r = start(t, args...)
	r.waitConnected(t, srv, 1)
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no second attempt within 10s of the restart")
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("second run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if gap := ats[1].Sub(ats[0]); gap < 2*time.Second {
		t.Errorf("second attempt %s after the first, across the restart; want at least the 2s the handler asked for", gap)
	}
	// A loaded machine may restart after the wait has passed: nothing is
	// left to wait out then, and nothing said.
	if restarted.Before(ats[0].Add(1500 * time.Millisecond)) {
		mustContain(t, r.stdout.String(), "resuming an event that failed before the restart")
	}
}
