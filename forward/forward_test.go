package forward

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Bytes a re-encoding would break: an id above 2^53, keys out of order,
// odd spacing, escapes.
const (
	jsonEvent = `{"state":"hangup","call_id":9007199254740993,"a":1 ,"z":{"b":"\u00e9","a":[1.50,2e3]}}`
	jwtEvent  = `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJjYWxsX2lkIjo5MDA3MTk5MjU0NzQwOTkzfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk`
)

func TestDeliverSendsExactBytesAndHeaders(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		req     Request
		want    map[string][]string // every header the handler sees but Content-Length
		host    string              // "" means the URL's
		emptyID bool
	}{{
		name: "json",
		req:  Request{ID: "id-json", Body: []byte(jsonEvent), Type: "call"},
		want: map[string][]string{
			"Content-Type":                 {"application/json"},
			"User-Agent":                   {"dialpad-tunnel/dev"},
			"X-Dialpad-Tunnel-Delivery-Id": {"id-json"},
			"X-Dialpad-Tunnel-Attempt":     {"1"},
			"X-Dialpad-Tunnel-Event-Type":  {"call"},
		},
	}, {
		name: "jwt without type",
		req:  Request{ID: "id-jwt", Body: []byte(jwtEvent), JWT: true},
		want: map[string][]string{
			"Content-Type":                 {"application/jwt"},
			"User-Agent":                   {"dialpad-tunnel/dev"},
			"X-Dialpad-Tunnel-Delivery-Id": {"id-jwt"},
			"X-Dialpad-Tunnel-Attempt":     {"1"},
		},
	}, {
		name: "configured names and values",
		cfg: Config{
			ContentTypeJWT: "text/plain", UserAgent: "acme/2",
			IDHeader: "x-id", AttemptHeader: "X-Try", TypeHeader: "x-kind",
		},
		req: Request{ID: "id-cfg", Body: []byte(jwtEvent), JWT: true, Type: "sms"},
		want: map[string][]string{
			"Content-Type": {"text/plain"},
			"User-Agent":   {"acme/2"},
			"X-Id":         {"id-cfg"},
			"X-Try":        {"1"},
			"X-Kind":       {"sms"},
		},
	}, {
		name: "extra headers win",
		cfg: Config{Headers: http.Header{
			"content-type":  {"application/vnd.dialpad+json"},
			"User-Agent":    {"Dialpad-Webhooks"},
			"X-Extra":       {"a", "b"},
			"Authorization": {"Bearer s3cret"},
			"Host":          {"hooks.example"},
		}},
		req: Request{ID: "id-extra", Body: []byte(jsonEvent)},
		want: map[string][]string{
			"Content-Type":                 {"application/vnd.dialpad+json"},
			"User-Agent":                   {"Dialpad-Webhooks"},
			"X-Extra":                      {"a", "b"},
			"Authorization":                {"Bearer s3cret"},
			"X-Dialpad-Tunnel-Delivery-Id": {"id-extra"},
			"X-Dialpad-Tunnel-Attempt":     {"1"},
		},
		host: "hooks.example",
	}, {
		name: "our headers omitted",
		cfg:  Config{IDHeader: OmitHeader, AttemptHeader: OmitHeader, TypeHeader: OmitHeader},
		req:  Request{ID: "id-omit", Body: []byte(jsonEvent), Type: "call"},
		want: map[string][]string{
			"Content-Type": {"application/json"},
			"User-Agent":   {"dialpad-tunnel/dev"},
		},
	}, {
		name:    "id made when empty; type unfit for a header left out",
		req:     Request{Body: []byte(jsonEvent), Type: "call\r\nX-Evil: 1"},
		emptyID: true,
		want: map[string][]string{
			"Content-Type":             {"application/json"},
			"User-Agent":               {"dialpad-tunnel/dev"},
			"X-Dialpad-Tunnel-Attempt": {"1"},
		},
	}, {
		name: "empty body",
		req:  Request{ID: "id-empty"},
		want: map[string][]string{
			"Content-Type":                 {"application/json"},
			"User-Agent":                   {"dialpad-tunnel/dev"},
			"X-Dialpad-Tunnel-Delivery-Id": {"id-empty"},
			"X-Dialpad-Tunnel-Attempt":     {"1"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, statuses(http.StatusOK))
			f := newForwarder(t, rc.URL+"/hook", tt.cfg)
			sent := bytes.Clone(tt.req.Body)

			res := f.Deliver(context.Background(), tt.req)

			if res.Err != nil || res.Status != http.StatusOK || res.Attempts != 1 || res.Retryable {
				t.Fatalf("Result = %+v, want delivered in 1 attempt", res)
			}
			if !bytes.Equal(tt.req.Body, sent) {
				t.Errorf("Deliver modified the body")
			}
			hits := rc.recorded()
			if len(hits) != 1 {
				t.Fatalf("handler saw %d requests, want 1", len(hits))
			}
			got := hits[0]
			if !bytes.Equal(got.body, sent) {
				t.Errorf("handler got body\n%q\nwant\n%q", got.body, sent)
			}
			if got.path != "/hook" {
				t.Errorf("path = %q, want /hook", got.path)
			}
			want := maps.Clone(tt.want)
			if tt.emptyID {
				id := got.header.Get("X-Dialpad-Tunnel-Delivery-Id")
				if _, err := uuid.Parse(id); err != nil || id != res.ID {
					t.Errorf("delivery id %q (Result.ID %q), want the same UUID", id, res.ID)
				}
				want["X-Dialpad-Tunnel-Delivery-Id"] = []string{res.ID}
			} else if res.ID != tt.req.ID {
				t.Errorf("Result.ID = %q, want %q", res.ID, tt.req.ID)
			}
			header := got.header.Clone()
			header.Del("Content-Length")
			if !maps.EqualFunc(map[string][]string(header), want, slices.Equal) {
				t.Errorf("handler got headers\n%v\nwant\n%v", header, want)
			}
			wantHost := tt.host
			if wantHost == "" {
				wantHost = strings.TrimPrefix(rc.URL, "http://")
			}
			if got.host != wantHost {
				t.Errorf("Host = %q, want %q", got.host, wantHost)
			}
		})
	}
}

func TestDeliverStatuses(t *testing.T) {
	tests := []struct {
		name      string
		codes     []int // the handler's answers, the last repeated
		max       int   // MaxAttempts
		attempts  int
		status    int
		delivered bool
		retryable bool
		errHas    []string
	}{
		{name: "200", codes: []int{200}, attempts: 1, status: 200, delivered: true},
		{name: "204", codes: []int{204}, attempts: 1, status: 204, delivered: true},
		{name: "500 500 200", codes: []int{500, 500, 200}, attempts: 3, status: 200, delivered: true},
		{name: "408 then 202", codes: []int{408, 202}, attempts: 2, status: 202, delivered: true},
		{name: "429 Retry-After 0 then 200", codes: []int{429, 200}, attempts: 2, status: 200, delivered: true},
		{name: "400", codes: []int{400}, attempts: 1, status: 400,
			errHas: []string{"forward: POST http://", "/hook: 400 Bad Request (not retried)"}},
		{name: "404", codes: []int{404}, attempts: 1, status: 404, errHas: []string{"404 Not Found (not retried)"}},
		{name: "501 is final", codes: []int{501}, attempts: 1, status: 501, errHas: []string{"501 Not Implemented (not retried)"}},
		{name: "500 then 400", codes: []int{500, 400}, attempts: 2, status: 400,
			errHas: []string{"400 Bad Request (not retried; after 2 attempts)"}},
		{name: "302 not followed", codes: []int{302}, attempts: 1, status: 302,
			errHas: []string{`302 Found, Location "/elsewhere" (redirects are not followed; not retried)`}},
		{name: "304 is no redirect", codes: []int{304}, attempts: 1, status: 304,
			errHas: []string{`304 Not Modified (3xx answers are final; not retried)`}},
		{name: "503 until given up", codes: []int{503}, max: 4, attempts: 4, status: 503, retryable: true,
			errHas: []string{"503 Service Unavailable (gave up after 4 attempts)"}},
		{name: "one attempt only", codes: []int{500}, max: 1, attempts: 1, status: 500, retryable: true,
			errHas: []string{"500 Internal Server Error (gave up after 1 attempt)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, statuses(tt.codes...))
			f := newForwarder(t, rc.URL+"/hook", Config{MaxAttempts: tt.max})

			res := f.Deliver(context.Background(), Request{ID: "d-1", Body: []byte(jsonEvent)})

			if res.Attempts != tt.attempts || res.Status != tt.status || res.Retryable != tt.retryable || res.ID != "d-1" {
				t.Errorf("Result = %+v, want Attempts %d Status %d Retryable %v", res, tt.attempts, tt.status, tt.retryable)
			}
			if tt.delivered != (res.Err == nil) {
				t.Fatalf("Err = %v, want delivered %v", res.Err, tt.delivered)
			}
			if res.Err != nil {
				var e *Error
				if !errors.As(res.Err, &e) || e.Status != tt.status || e.Attempts != tt.attempts || e.Retryable != tt.retryable {
					t.Errorf("Err = %#v, want an *Error matching the Result", res.Err)
				}
				for _, s := range tt.errHas {
					if !strings.Contains(res.Err.Error(), s) {
						t.Errorf("Err = %q, want it to contain %q", res.Err, s)
					}
				}
			}
			hits := rc.recorded()
			if len(hits) != tt.attempts {
				t.Fatalf("handler saw %d requests, want %d", len(hits), tt.attempts)
			}
			for i, h := range hits {
				if h.path != "/hook" {
					t.Errorf("request %d went to %q, want /hook (no redirects)", i+1, h.path)
				}
				if got := h.header.Get("X-Dialpad-Tunnel-Attempt"); got != fmt.Sprint(i+1) {
					t.Errorf("request %d: attempt header %q, want %d", i+1, got, i+1)
				}
				if got := h.header.Values("X-Dialpad-Tunnel-Delivery-Id"); !slices.Equal(got, []string{"d-1"}) {
					t.Errorf("request %d: delivery id %q, want [d-1]", i+1, got)
				}
				if !bytes.Equal(h.body, []byte(jsonEvent)) {
					t.Errorf("request %d: body %q, want the event bytes", i+1, h.body)
				}
			}
		})
	}
}

func TestDeliverUnreachable(t *testing.T) {
	url := closedPort(t)
	f := newForwarder(t, url, Config{MaxAttempts: 3})

	res := f.Deliver(context.Background(), Request{Body: []byte(jsonEvent)})

	if res.Attempts != 3 || res.Status != 0 || !res.Retryable || res.Err == nil {
		t.Fatalf("Result = %+v, want 3 retryable attempts, no status", res)
	}
	want := "forward: POST " + url + ": dial tcp "
	if msg := res.Err.Error(); !strings.HasPrefix(msg, want) ||
		!strings.Contains(msg, "connection refused") || !strings.HasSuffix(msg, "(gave up after 3 attempts)") {
		t.Errorf("Err = %q, want %q… connection refused … (gave up after 3 attempts)", msg, want)
	}
	var op *net.OpError
	if !errors.As(res.Err, &op) {
		t.Errorf("Err = %#v, want it to wrap a *net.OpError", res.Err)
	}
}

func TestDeliverTimeout(t *testing.T) {
	// The handler answers only when the client hangs up. The timeout
	// leaves a loaded machine time to bring each attempt to the handler
	// (at 50 ms one in six runs beside two fuzzers lost the second).
	rc := newReceiver(t, func(_ http.ResponseWriter, r *http.Request, _ int) { <-r.Context().Done() })
	f := newForwarder(t, rc.URL+"/hook", Config{Timeout: 300 * time.Millisecond, MaxAttempts: 2})

	res := f.Deliver(context.Background(), Request{Body: []byte(jsonEvent)})

	if res.Attempts != 2 || res.Status != 0 || !res.Retryable || res.Err == nil {
		t.Fatalf("Result = %+v, want 2 retryable attempts, no status", res)
	}
	if msg := res.Err.Error(); !strings.Contains(msg, "timed out (limit 300ms per attempt)") || !strings.HasSuffix(msg, "(gave up after 2 attempts)") {
		t.Errorf("Err = %q, want a timeout after 2 attempts", msg)
	}
	var ne net.Error
	if !errors.As(res.Err, &ne) || !ne.Timeout() {
		t.Errorf("Err = %#v, want a net.Error with Timeout()", res.Err)
	}
	if n := len(rc.recorded()); n != 2 {
		t.Errorf("handler saw %d requests, want 2", n)
	}
}

func TestDeliverCancelDuringBackoff(t *testing.T) {
	rc := newReceiver(t, statuses(http.StatusServiceUnavailable))
	logs := make(records, 1)
	f := newForwarder(t, rc.URL+"/hook", Config{
		RetryWaitMin: time.Hour, RetryWaitMax: time.Hour,
		Logger: slog.New(logs),
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-logs // "forward: retrying": the backoff wait comes next
		cancel()
	}()

	res := f.Deliver(ctx, Request{Body: []byte(jsonEvent)})
	<-done

	if !errors.Is(res.Err, context.Canceled) || res.Attempts != 1 || res.Status != 503 || !res.Retryable {
		t.Fatalf("Result = %+v, want context.Canceled after 1 attempt, Status 503, Retryable", res)
	}
	if msg, want := res.Err.Error(), "context canceled (stopped after 1 attempt; last answer 503 Service Unavailable)"; !strings.HasSuffix(msg, want) {
		t.Errorf("Err = %q, want it to end %q", msg, want)
	}
	if res.Latency > time.Minute { // the hour-long wait was cut short
		t.Errorf("Latency = %v, want it well under RetryWaitMin", res.Latency)
	}
}

func TestDeliverContextDoneBeforeStart(t *testing.T) {
	rc := newReceiver(t, statuses(http.StatusOK))
	f := newForwarder(t, rc.URL+"/hook", Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	res := f.Deliver(ctx, Request{Body: []byte(jsonEvent)})

	if !errors.Is(res.Err, context.Canceled) || res.Attempts != 0 || !res.Retryable {
		t.Fatalf("Result = %+v, want context.Canceled, no attempts, Retryable", res)
	}
	if n := len(rc.recorded()); n != 0 {
		t.Errorf("handler saw %d requests, want 0", n)
	}
}

func TestDeliverLogsRetriesWithoutSecrets(t *testing.T) {
	rc := newReceiver(t, statuses(500, 502, 200))
	logs := make(records, 10)
	u, err := url.Parse(rc.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("user", "pa55word") // redacted in the handler attribute
	u.Path = "/hook"
	u.RawQuery = "token=qu3ry-s3cret" // and so is the query
	f := newForwarder(t, u.String(), Config{
		Headers:      http.Header{"Authorization": {"Bearer s3cret"}},
		Logger:       slog.New(logs),
		RetryWaitMin: 2 * time.Millisecond, RetryWaitMax: 2 * time.Millisecond, // no jitter: retry_in is known
	})

	res := f.Deliver(context.Background(), Request{ID: "d-log", Key: "call:42", Body: []byte(`{"secret":"body"}`)})
	if res.Err != nil {
		t.Fatalf("Deliver: %v", res.Err)
	}
	close(logs)
	var lines []string
	for rec := range logs {
		line := rec.Level.String() + " " + rec.Message
		rec.Attrs(func(a slog.Attr) bool {
			line += " " + a.String()
			return true
		})
		lines = append(lines, line)
	}
	handler := "http://user:xxxxx@" + u.Host + "/hook?xxxxx"
	want := []string{
		"WARN delivery attempt failed; retrying id=d-log key=call:42 attempt=1 max_attempts=5 handler=" + handler + " status=500 retry_in=2ms",
		"WARN delivery attempt failed; retrying id=d-log key=call:42 attempt=2 max_attempts=5 handler=" + handler + " status=502 retry_in=2ms",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("logged\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestDeliverReusesConnections(t *testing.T) {
	// An error page longer than retryablehttp's own 4 KiB drain.
	page := strings.Repeat("Traceback (most recent call last): …\n", 1000)
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n%2 == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, page)
		}
	})
	f := newForwarder(t, rc.URL+"/hook", Config{})

	for i := range 5 {
		if res := f.Deliver(context.Background(), Request{Body: []byte(jsonEvent)}); res.Err != nil || res.Attempts != 2 {
			t.Fatalf("Deliver %d: %+v, want delivered on attempt 2", i, res)
		}
	}
	if n := rc.conns.Load(); n != 1 {
		t.Errorf("handler accepted %d connections for 10 requests, want 1", n)
	}
}

func TestDeliverConcurrent(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n%3 == 0 && r.Header.Get("X-Dialpad-Tunnel-Attempt") == "1" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	f := newForwarder(t, rc.URL+"/hook", Config{Concurrency: 8})

	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				body := fmt.Appendf(nil, `{"n":%d}`, i)
				if res := f.Deliver(context.Background(), Request{ID: id, Body: body}); res.Err != nil {
					errs <- fmt.Errorf("%s: %w", id, res.Err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	seen := map[string]bool{}
	for _, h := range rc.recorded() {
		if h.header.Get("X-Dialpad-Tunnel-Attempt") != "1" && !seen[h.header.Get("X-Dialpad-Tunnel-Delivery-Id")] {
			t.Errorf("retry of %s before its first attempt", h.header.Get("X-Dialpad-Tunnel-Delivery-Id"))
		}
		seen[h.header.Get("X-Dialpad-Tunnel-Delivery-Id")] = true
	}
	if len(seen) != workers*each {
		t.Errorf("handler saw %d distinct ids, want %d", len(seen), workers*each)
	}
}

func TestDeliverContextEndsDuringAttempt(t *testing.T) {
	rc := newReceiver(t, func(_ http.ResponseWriter, r *http.Request, _ int) { <-r.Context().Done() })
	f := newForwarder(t, rc.URL+"/hook", Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()

	res := f.Deliver(ctx, Request{Body: []byte(jsonEvent)})

	if !errors.Is(res.Err, context.DeadlineExceeded) || res.Attempts != 1 || res.Status != 0 || !res.Retryable {
		t.Fatalf("Result = %+v, want context.DeadlineExceeded after 1 attempt, Retryable", res)
	}
	if msg, want := res.Err.Error(), ": context deadline exceeded (stopped after 1 attempt)"; !strings.HasSuffix(msg, want) {
		t.Errorf("Err = %q, want it to end %q", msg, want)
	}
}

// Request.Stop ends a backoff wait at once: the delivery fails retryable
// with ErrStopped after the attempts made.
func TestDeliverStopDuringBackoff(t *testing.T) {
	rc := newReceiver(t, statuses(http.StatusServiceUnavailable))
	logs := make(records, 1)
	f := newForwarder(t, rc.URL+"/hook", Config{
		RetryWaitMin: time.Hour, RetryWaitMax: time.Hour,
		Logger: slog.New(logs),
	})
	stop, stopNow := context.WithCancel(context.Background())
	defer stopNow()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-logs // "forward: retrying": the backoff wait comes next
		stopNow()
	}()

	res := f.Deliver(context.Background(), Request{Body: []byte(jsonEvent), Stop: stop})
	<-done

	if !errors.Is(res.Err, ErrStopped) || res.Attempts != 1 || res.Status != 503 || !res.Retryable {
		t.Fatalf("Result = %+v, want ErrStopped after 1 attempt, Status 503, Retryable", res)
	}
	if msg, want := res.Err.Error(), "no further attempt: stopping (stopped after 1 attempt; last answer 503 Service Unavailable)"; !strings.HasSuffix(msg, want) {
		t.Errorf("Err = %q, want it to end %q", msg, want)
	}
	if n := len(rc.recorded()); n != 1 {
		t.Errorf("handler saw %d requests, want 1", n)
	}
}

// Request.Stop lets the attempt in flight finish: its answer decides, and
// no further attempt starts.
func TestDeliverStopLetsAttemptInFlightFinish(t *testing.T) {
	for _, answer := range []int{http.StatusOK, http.StatusServiceUnavailable, http.StatusBadRequest} {
		t.Run(strconv.Itoa(answer), func(t *testing.T) {
			arrived, release := make(chan struct{}, 1), make(chan struct{})
			rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				arrived <- struct{}{}
				<-release
				w.WriteHeader(answer)
			})
			f := newForwarder(t, rc.URL+"/hook", Config{RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond})
			stop, stopNow := context.WithCancel(context.Background())
			defer stopNow()
			go func() {
				<-arrived
				stopNow()
				close(release)
			}()

			res := f.Deliver(context.Background(), Request{Body: []byte(jsonEvent), Stop: stop})

			if n := len(rc.recorded()); n != 1 {
				t.Errorf("handler saw %d requests, want 1", n)
			}
			switch answer {
			case http.StatusOK:
				if res.Err != nil || res.Status != 200 {
					t.Errorf("Result = %+v, want delivered by the attempt in flight", res)
				}
			case http.StatusServiceUnavailable:
				if !errors.Is(res.Err, ErrStopped) || !res.Retryable || res.Attempts != 1 {
					t.Errorf("Result = %+v, want ErrStopped, retryable, after 1 attempt", res)
				}
			default:
				if res.Err == nil || res.Retryable || res.Status != answer {
					t.Errorf("Result = %+v, want refused with %d, not retryable", res, answer)
				}
			}
		})
	}
}

// Request.Prior counts attempts made in an earlier run toward MaxAttempts
// and numbers the attempt header on from them; Attempted sees each failed
// attempt that will be retried.
func TestDeliverPriorAttempts(t *testing.T) {
	tests := []struct {
		prior     int
		posts     []string // attempt headers the handler sees
		attempted []int    // history lengths Attempted is called with
	}{
		{prior: 0, posts: []string{"1", "2", "3"}, attempted: []int{1, 2}},
		{prior: 2, posts: []string{"3"}},
		{prior: 3},
		{prior: 7},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.prior), func(t *testing.T) {
			rc := newReceiver(t, statuses(http.StatusServiceUnavailable))
			f := newForwarder(t, rc.URL+"/hook", Config{MaxAttempts: 3})
			var attempted []int
			res := f.Deliver(context.Background(), Request{Body: []byte(jsonEvent), Prior: tt.prior,
				Attempted: func(h []Attempt) {
					if h[len(h)-1].Status != http.StatusServiceUnavailable {
						t.Errorf("Attempted with last attempt %+v, want its 503", h[len(h)-1])
					}
					attempted = append(attempted, len(h))
				}})

			var posts []string
			for _, h := range rc.recorded() {
				posts = append(posts, h.header.Get(DefaultAttemptHeader))
			}
			if !slices.Equal(posts, tt.posts) || !slices.Equal(attempted, tt.attempted) {
				t.Errorf("attempt headers %v, Attempted %v; want %v, %v", posts, attempted, tt.posts, tt.attempted)
			}
			if res.Err == nil || res.Attempts != max(tt.prior, 3) || len(res.History) != len(tt.posts) {
				t.Errorf("Result = %+v, want a failure after %d attempts in all, %d in this call", res, max(tt.prior, 3), len(tt.posts))
			}
			// The limit is named, not only the attempts made: "7 attempts
			// made before" alone read as if the limit were 7.
			want := fmt.Sprintf("gave up: %d attempts made before this start; --max-attempts is 3", tt.prior)
			if len(tt.posts) == 0 && !strings.HasSuffix(res.Err.Error(), want) {
				t.Errorf("Err = %v, want it to end %q", res.Err, want)
			}
		})
	}
}

// With Request.Stop already done, the first attempt still goes ahead (a
// --no-spool agent delivers what it holds while it drains) and no retry
// follows; no attempt is recorded that was not made.
func TestDeliverStopAlreadyDone(t *testing.T) {
	rc := newReceiver(t, statuses(http.StatusServiceUnavailable))
	f := newForwarder(t, rc.URL+"/hook", Config{})
	stop, stopNow := context.WithCancel(context.Background())
	stopNow()
	for i := range 100 { // the stop's AfterFunc races the first attempt
		res := f.Deliver(context.Background(), Request{Body: []byte(jsonEvent), Stop: stop})
		if !errors.Is(res.Err, ErrStopped) || res.Attempts != 1 || len(res.History) != 1 || res.History[0].Status != 503 {
			t.Fatalf("call %d: Result = %+v, want ErrStopped after its one real attempt (503)", i, res)
		}
		if n := len(rc.recorded()); n != i+1 {
			t.Fatalf("call %d: handler saw %d requests in all, want %d", i, n, i+1)
		}
	}
	// The last allowed attempt failing is final, stopping or not.
	last := newForwarder(t, rc.URL+"/hook", Config{MaxAttempts: 1})
	if res := last.Deliver(context.Background(), Request{Body: []byte(jsonEvent), Stop: stop}); errors.Is(res.Err, ErrStopped) || res.Attempts != 1 {
		t.Errorf("Result = %+v, want the 503 of the only allowed attempt, not ErrStopped", res)
	}
}
