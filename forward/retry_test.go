package forward

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func answer(code int, retryAfter string) *http.Response {
	h := http.Header{}
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	return &http.Response{StatusCode: code, Header: h}
}

func TestBackoff(t *testing.T) {
	const lo, hi = 100 * time.Millisecond, 2 * time.Second
	future := time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat)
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	tests := []struct {
		name   string
		lo, hi time.Duration
		n      int
		resp   *http.Response
		min    time.Duration // inclusive bounds of the result
		max    time.Duration
		fixed  bool // no jitter: a Retry-After longer than the backoff is obeyed as given
	}{
		{name: "first retry", lo: lo, hi: hi, n: 0, min: 100 * time.Millisecond, max: 200 * time.Millisecond},
		{name: "second retry", lo: lo, hi: hi, n: 1, min: 200 * time.Millisecond, max: 400 * time.Millisecond},
		{name: "fourth retry", lo: lo, hi: hi, n: 3, min: 800 * time.Millisecond, max: 1600 * time.Millisecond},
		{name: "capped", lo: lo, hi: hi, n: 4, min: time.Second, max: 2 * time.Second},
		{name: "far past the cap", lo: lo, hi: hi, n: 1000, min: time.Second, max: 2 * time.Second},
		{name: "never below lo", lo: lo, hi: 150 * time.Millisecond, n: 5, min: lo, max: 150 * time.Millisecond},
		{name: "lo equals hi", lo: time.Hour, hi: time.Hour, n: 2, min: time.Hour, max: time.Hour},
		{name: "huge hi", lo: time.Second, hi: 1<<63 - 1, n: 100, min: (1<<63 - 1) / 2, max: 1<<63 - 1},
		{name: "500 ignores Retry-After", lo: lo, hi: hi, resp: answer(500, "1"), min: 100 * time.Millisecond, max: 200 * time.Millisecond},
		{name: "429 without Retry-After", lo: lo, hi: hi, resp: answer(429, ""), min: 100 * time.Millisecond, max: 200 * time.Millisecond},
		{name: "429 bad Retry-After", lo: lo, hi: hi, resp: answer(429, "soon"), min: 100 * time.Millisecond, max: 200 * time.Millisecond},
		{name: "429 negative Retry-After", lo: lo, hi: hi, resp: answer(429, "-3"), min: 100 * time.Millisecond, max: 200 * time.Millisecond},
		{name: "429 bad Retry-After fourth retry", lo: lo, hi: hi, n: 3, resp: answer(429, "soon"), min: 800 * time.Millisecond, max: 1600 * time.Millisecond},
		{name: "500 ignores long Retry-After", lo: lo, hi: hi, n: 1, resp: answer(500, "3600"), min: 200 * time.Millisecond, max: 400 * time.Millisecond},

		// Retry-After lengthens the normal wait: max(Retry-After, backoff), capped at hi.
		{name: "503 Retry-After seconds", lo: lo, hi: hi, resp: answer(503, "1"), min: time.Second, max: time.Second},
		{name: "429 Retry-After inside the backoff range", lo: lo, hi: hi, n: 3, resp: answer(429, "1"), min: time.Second, max: 1600 * time.Millisecond},
		{name: "Retry-After capped", lo: lo, hi: hi, resp: answer(429, "3600"), min: hi, max: hi},
		{name: "Retry-After capped far past the cap", lo: lo, hi: hi, n: 1000, resp: answer(503, "3600"), min: hi, max: hi},
		{name: "Retry-After huge", lo: lo, hi: hi, resp: answer(429, "99999999999999999"), min: hi, max: hi},
		{name: "Retry-After date", lo: lo, hi: time.Minute, resp: answer(503, future), min: 8 * time.Second, max: 10 * time.Second, fixed: true},
		{name: "Retry-After date capped", lo: lo, hi: hi, resp: answer(503, future), min: hi, max: hi},

		// Retry-After never shortens the normal wait: a handler answering
		// Retry-After: 0, or a date its slow clock puts in the past, gets
		// the same growing backoff as one that sends no Retry-After.
		{name: "429 Retry-After 0 first retry", lo: lo, hi: hi, resp: answer(429, "0"), min: 100 * time.Millisecond, max: 200 * time.Millisecond},
		{name: "503 Retry-After 0 first retry", lo: lo, hi: hi, resp: answer(503, "0"), min: 100 * time.Millisecond, max: 200 * time.Millisecond},
		{name: "503 Retry-After 0 fourth retry", lo: lo, hi: hi, n: 3, resp: answer(503, "0"), min: 800 * time.Millisecond, max: 1600 * time.Millisecond},
		{name: "503 Retry-After 0 capped", lo: lo, hi: hi, n: 1000, resp: answer(503, "0"), min: time.Second, max: 2 * time.Second},
		{name: "503 Retry-After shorter than the backoff", lo: lo, hi: 10 * time.Second, n: 4, resp: answer(503, "1"), min: 1600 * time.Millisecond, max: 3200 * time.Millisecond},
		{name: "429 Retry-After date past first retry", lo: lo, hi: hi, resp: answer(429, past), min: 100 * time.Millisecond, max: 200 * time.Millisecond},
		{name: "503 Retry-After date past third retry", lo: lo, hi: hi, n: 2, resp: answer(503, past), min: 400 * time.Millisecond, max: 800 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen [2]bool // a result in the lower and in the upper half of the range
			for i := range 2000 {
				d := backoff(tt.lo, tt.hi, "delivery-"+strconv.Itoa(i), tt.n, tt.resp) // the pick is the delivery's
				if d < tt.min || d > tt.max {
					t.Fatalf("backoff(%v, %v, %d) = %v, want within [%v, %v]", tt.lo, tt.hi, tt.n, d, tt.min, tt.max)
				}
				seen[0] = seen[0] || d < tt.min+(tt.max-tt.min)/2
				seen[1] = seen[1] || d > tt.min+(tt.max-tt.min)/2
			}
			if tt.min != tt.max && !tt.fixed && !(seen[0] && seen[1]) {
				t.Errorf("backoff(%v, %v, %d) is not jittered across [%v, %v]", tt.lo, tt.hi, tt.n, tt.min, tt.max)
			}
		})
	}
}

// TestDeliverRetryAfterKeepsBackoff sends a delivery to a handler that
// answers 503 with a Retry-After asking for no wait at all, and checks, from
// the times the requests reached the handler, that the waits between them
// still grow as the normal backoff does: each at least lo·2^i after the
// (i+1)th attempt, rather than a tight loop at RetryWaitMin.
func TestDeliverRetryAfterKeepsBackoff(t *testing.T) {
	const lo, attempts = 10 * time.Millisecond, 5
	for _, tt := range []struct{ name, retryAfter string }{
		{"zero", "0"},
		{"date in the past", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)}, // a handler whose clock is behind
	} {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu      sync.Mutex
				arrived []time.Time
			)
			rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				mu.Lock()
				arrived = append(arrived, time.Now())
				mu.Unlock()
				w.Header().Set("Retry-After", tt.retryAfter)
				w.WriteHeader(http.StatusServiceUnavailable)
			})
			f := newForwarder(t, rc.URL+"/hook", Config{MaxAttempts: attempts, RetryWaitMin: lo, RetryWaitMax: time.Second})

			res := f.Deliver(context.Background(), Request{ID: "d-1", Body: []byte(jsonEvent)})

			if res.Attempts != attempts || res.Status != http.StatusServiceUnavailable || !res.Retryable {
				t.Fatalf("Result = %+v, want %d attempts ending in a retryable 503", res, attempts)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(arrived) != attempts {
				t.Fatalf("handler saw %d requests, want %d", len(arrived), attempts)
			}
			for i := range attempts - 1 {
				gap := arrived[i+1].Sub(arrived[i])
				if least := lo << i; gap < least {
					t.Errorf("wait after attempt %d was %v, want at least %v (the normal backoff); gaps between arrivals %v",
						i+1, gap, least, gaps(arrived))
				}
			}
		})
	}
}

// gaps is the time between consecutive arrivals, for failure messages.
func gaps(ts []time.Time) []time.Duration {
	var ds []time.Duration
	for i := 1; i < len(ts); i++ {
		ds = append(ds, ts[i].Sub(ts[i-1]).Round(time.Millisecond/10))
	}
	return ds
}

func TestRetryableStatus(t *testing.T) {
	retry := map[int]bool{
		200: false, 204: false, 301: false, 302: false, 307: false, 400: false, 401: false, 403: false,
		404: false, 408: true, 409: false, 413: false, 422: false, 429: true, 500: true, 501: false,
		502: true, 503: true, 504: true, 599: true,
	}
	for code, want := range retry {
		if got := retryableStatus(code); got != want {
			t.Errorf("retryableStatus(%d) = %v, want %v", code, got, want)
		}
	}
}

// TestAttemptsEndsCallWithRetryAt: a call given Request.Attempts makes
// that many and returns, retryable, with when the next attempt is due (a
// Retry-After longer than the backoff included) instead of waiting for it;
// the next call goes on from Prior. Config.MaxAttempts still ends the
// delivery for good.
func TestAttemptsEndsCallWithRetryAt(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 2 {
			w.Header().Set("Retry-After", "30")
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	logs := make(records, 16)
	f := newForwarder(t, rc.URL, Config{MaxAttempts: 5, RetryWaitMin: time.Millisecond, RetryWaitMax: time.Hour, Logger: slog.New(logs)})

	before := time.Now()
	res := f.Deliver(context.Background(), Request{Body: []byte(`{}`), Attempts: 2})
	if !res.Retryable || res.Attempts != 2 || len(res.History) != 2 || len(rc.recorded()) != 2 {
		t.Fatalf("first call: retryable %v, %d attempts, %d in history, %d POSTs; want 2 of each, retryable",
			res.Retryable, res.Attempts, len(res.History), len(rc.recorded()))
	}
	if wait := res.RetryAt.Sub(before); wait < 30*time.Second || wait > 31*time.Second || time.Since(before) > 10*time.Second {
		t.Errorf("RetryAt %s after the start, want the 30s of the second answer's Retry-After, returned at once", wait)
	}

	for i := 1; i <= 2; i++ { // the one that ended the call too
		select {
		case rec := <-logs:
			if rec.Message != "delivery attempt failed; retrying" {
				t.Errorf("log line %d: %q, want the failed attempt's warning", i, rec.Message)
			}
		default:
			t.Errorf("attempt %d was not logged", i)
		}
	}
	res = f.Deliver(context.Background(), Request{ID: res.ID, Body: []byte(`{}`), Prior: 2, Attempts: 10})
	if res.Err == nil || res.Attempts != 5 || !res.RetryAt.IsZero() {
		t.Errorf("second call: error %v, %d attempts, RetryAt %v; want the 5th attempt, the most allowed, to fail it with no RetryAt", res.Err, res.Attempts, res.RetryAt)
	}
	var headers []string
	for _, h := range rc.recorded() {
		headers = append(headers, h.header.Get(DefaultAttemptHeader))
	}
	if strings.Join(headers, ",") != "1,2,3,4,5" {
		t.Errorf("attempt headers %v, want 1 to 5 across the two calls", headers)
	}
}

// TestAttemptTimeLeavesOutSlotWait: an attempt that waits for a slot
// (Config.Concurrency) starts when it gets one: its time and duration are
// the handler's, not the queue's, so with one slot the second attempt
// starts no sooner than the first one ended. (A black-box review saw an
// attempt recorded as taking 16 s against a 2 s --timeout.)
func TestAttemptTimeLeavesOutSlotWait(t *testing.T) {
	h := newHeld(t)
	f := newForwarder(t, h.URL, Config{Concurrency: 1, Timeout: time.Minute})
	results := make(chan Result, 2)
	deliver := func(body string) {
		go func() { results <- f.Deliver(context.Background(), Request{ID: body, Body: []byte(body)}) }()
	}
	deliver("hold")
	waitFor(t, "the first POST to reach the handler", func() bool { return len(h.recorded()) == 1 })
	deliver("queued")
	waitFor(t, "the second to wait for the slot", func() bool { return slotQueue(f) == 1 })
	h.let("hold")
	byID := map[string]Result{}
	for range 2 {
		res := <-results
		if res.Err != nil || len(res.History) != 1 {
			t.Fatalf("Deliver = %v with %d attempts, want delivered at once", res.Err, len(res.History))
		}
		byID[res.ID] = res
	}
	first, second := byID["hold"].History[0], byID["queued"].History[0]
	if end := first.At.Add(first.Duration); second.At.Before(end) {
		t.Errorf("the queued attempt is recorded as started %v before the one holding the slot ended: its wait for the slot counted as the handler's time",
			end.Sub(second.At))
	}
}

// TestStopQueuedSendsNothingNew: with Request.StopQueued, an attempt
// still waiting for a slot when Stop is done, or StopAt comes, is not made
// nor counted, the first one included, while one in flight goes on. (A
// black-box review saw 27 POSTs, some first attempts, reach a slow handler
// after a Ctrl-C, in waves until --drain-timeout.)
func TestStopQueuedSendsNothingNew(t *testing.T) {
	for _, by := range []string{"Stop", "StopAt"} {
		t.Run(by, func(t *testing.T) {
			arrived, release := make(chan struct{}, 2), make(chan struct{})
			rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				arrived <- struct{}{}
				<-release
				w.WriteHeader(http.StatusNoContent)
			})
			f := newForwarder(t, rc.URL, Config{Concurrency: 1})
			inFlight := make(chan Result, 1)
			go func() { inFlight <- f.Deliver(context.Background(), Request{Body: []byte(`{}`)}) }()
			<-arrived // it holds the only slot
			req := Request{Body: []byte(`{}`), StopQueued: true, Prior: 2}
			stop, stopNow := context.WithCancel(context.Background())
			defer stopNow()
			if by == "Stop" {
				req.Stop = stop
			} else {
				req.StopAt = time.Now().Add(200 * time.Millisecond)
			}
			queued := make(chan Result, 1)
			go func() { queued <- f.Deliver(context.Background(), req) }()
			stopNow() // StopAt: no effect
			var res Result
			select {
			case res = <-queued:
			case <-time.After(time.Minute):
				t.Errorf("%s did not end the wait for a slot", by)
			}
			close(release)
			if res.ID == "" { // not stopped: it went ahead once the slot was free
				res = <-queued
			}
			if !errors.Is(res.Err, ErrStopped) || !res.Retryable || res.Attempts != 2 || len(res.History) != 0 {
				t.Errorf("queued delivery at the stop: %v, retryable %v, %d attempts, %d in history; want ErrStopped, retryable, the 2 before, none made",
					res.Err, res.Retryable, res.Attempts, len(res.History))
			}
			if res := <-inFlight; res.Err != nil {
				t.Errorf("the delivery in flight: %v, want delivered", res.Err)
			}
			if n := len(rc.recorded()); n != 1 {
				t.Errorf("%d POSTs reached the handler, want only the one in flight before the stop", n)
			}
		})
	}
}

// TestStopAtEndsRetryWait: Request.StopAt ends a backoff wait when it
// comes, as a Stop done then would, and the wait holds no slot: another
// delivery goes ahead meanwhile on the only one.
func TestStopAtEndsRetryWait(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if r.Header.Get(DefaultTypeHeader) == "fail" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	logs := make(records, 1)
	f := newForwarder(t, rc.URL, Config{Concurrency: 1, RetryWaitMin: time.Hour, RetryWaitMax: time.Hour, Logger: slog.New(logs)})
	waiting := make(chan Result, 1)
	stopAt := time.Now().Add(2 * time.Second)
	go func() {
		waiting <- f.Deliver(context.Background(), Request{Body: []byte(`{}`), Type: "fail", StopAt: stopAt})
	}()
	select {
	case <-logs: // "retrying": the hour's wait comes next
	case <-time.After(time.Until(stopAt)):
		t.Fatal("no retry wait began before StopAt: the first attempt took 2 s")
	}
	if res := f.Deliver(context.Background(), Request{Body: []byte(`{}`), Type: "call"}); res.Err != nil {
		t.Errorf("a delivery during the other's wait: %v, want delivered", res.Err)
	}
	var res Result
	select {
	case res = <-waiting:
	case <-time.After(time.Minute):
		t.Fatal("StopAt did not end the backoff wait of an hour")
	}
	if !errors.Is(res.Err, ErrStopped) || !res.Retryable || res.Attempts != 1 || res.Status != http.StatusServiceUnavailable {
		t.Errorf("Result = %+v, want ErrStopped, retryable, after 1 attempt answered 503", res)
	}
	if n := len(rc.recorded()); n != 2 {
		t.Errorf("%d POSTs reached the handler, want 2", n)
	}
}
