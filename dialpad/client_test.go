package dialpad_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name    string
		cfg     dialpad.Config
		wantErr string
	}{
		{"empty key", dialpad.Config{BaseURL: dialpad.ProductionBase}, "APIKey is required"},
		{"blank key", dialpad.Config{BaseURL: dialpad.ProductionBase, APIKey: "  "}, "APIKey is required"},
		{"empty base", dialpad.Config{APIKey: testKey}, "BaseURL is required"},
		{"ftp base", dialpad.Config{APIKey: testKey, BaseURL: "ftp://dialpad.com"}, "http:// or https://"},
		{"no scheme", dialpad.Config{APIKey: testKey, BaseURL: "dialpad.com"}, "http:// or https://"},
		{"no host", dialpad.Config{APIKey: testKey, BaseURL: "https://"}, "no host"},
		{"not a url", dialpad.Config{APIKey: testKey, BaseURL: "http://[::1"}, "not a valid URL"},
		{"credentials", dialpad.Config{APIKey: testKey, BaseURL: "https://u:" + testKey + "@dialpad.com"}, "credentials"},
		{"waits inverted", dialpad.Config{APIKey: testKey, BaseURL: dialpad.SandboxBase,
			RetryWaitMin: time.Second, RetryWaitMax: time.Millisecond}, "exceeds RetryWaitMax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dialpad.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error %q contains the API key", err)
			}
		})
	}
	if _, err := dialpad.New(dialpad.Config{BaseURL: dialpad.ProductionBase, APIKey: testKey}); err != nil {
		t.Errorf("New with defaults: %v", err)
	}
}

// TestRequestHeadersAndBody checks what the server receives: method, path,
// bearer key, Accept, User-Agent, and a JSON body with ids as numbers.
func TestRequestHeadersAndBody(t *testing.T) {
	type seen struct {
		method, path, auth, accept, ctype, ua, body string
	}
	got := make(chan seen, 1)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Accept"),
			r.Header.Get("Content-Type"), r.Header.Get("User-Agent"), string(b)}
		io.WriteString(w, `{"id":"7","enabled":true,"call_states":["hangup"],"websocket":{"id":"1000","websocket_url":"wss://x/events/a.b.c"}}`)
	})
	// A trailing /api/v2/ on the base URL is tolerated.
	c := newClient(t, srv.URL+"/api/v2/", func(cfg *dialpad.Config) { cfg.UserAgent = "tunnel-test/1" })

	endpoint, enabled := dialpad.ID(1000), false
	target := dialpad.ID(9007199254740993) // above 2^53: must survive as an exact number
	sub, err := c.CreateSubscription(context.Background(), dialpad.Call, dialpad.SubscriptionRequest{
		EndpointID: &endpoint, Enabled: &enabled, CallStates: []string{"hangup"}, TargetType: "office", TargetID: &target,
	})
	if err != nil {
		t.Fatalf("CreateSubscription: %v", err)
	}
	s := <-got
	want := seen{"POST", "/api/v2/subscriptions/call", "Bearer " + testKey, "application/json", "application/json", "tunnel-test/1",
		`{"endpoint_id":1000,"enabled":false,"call_states":["hangup"],"target_type":"office","target_id":9007199254740993}`}
	if s != want {
		t.Errorf("server saw\n %+v\nwant\n %+v", s, want)
	}
	if sub.ID != 7 || sub.EndpointID() != 1000 || sub.Websocket.URL != "wss://x/events/a.b.c" {
		t.Errorf("subscription = %+v", sub)
	}
}

// TestPartialUpdateBody checks that a PATCH sends only the fields set.
func TestPartialUpdateBody(t *testing.T) {
	bodies := make(chan string, 2)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- r.Method + " " + r.URL.Path + " " + string(b)
		io.WriteString(w, `{"id":5}`)
	})
	c := newClient(t, srv.URL, nil)
	ctx := context.Background()
	ws := dialpad.ID(1001)
	if _, err := c.UpdateSubscription(ctx, dialpad.SMS, 5, dialpad.SubscriptionRequest{EndpointID: &ws}); err != nil {
		t.Fatal(err)
	}
	secret := "new"
	if _, err := c.UpdateWebhook(ctx, 5, dialpad.WebhookUpdate{Secret: &secret}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`PATCH /api/v2/subscriptions/sms/5 {"endpoint_id":1001}`,
		`PATCH /api/v2/webhooks/5 {"secret":"new"}`,
	} {
		if got := <-bodies; got != want {
			t.Errorf("server saw %s, want %s", got, want)
		}
	}
}

func TestIDsAsStringsOrNumbers(t *testing.T) {
	tests := []struct {
		name, body string
	}{
		{"strings", `{"id":"1000","websocket_url":"wss://h/events/t","signature":{"algo":"HS256","secret":"s","type":"jwt"}}`},
		{"numbers", `{"id":1000,"websocket_url":"wss://h/events/t","signature":{"algo":"HS256","secret":"s","type":"jwt"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, tt.body) })
			ws, err := newClient(t, srv.URL, nil).Websocket(context.Background(), 1000)
			if err != nil {
				t.Fatal(err)
			}
			if ws.ID != 1000 || ws.URL != "wss://h/events/t" || ws.Secret() != "s" {
				t.Errorf("websocket = %+v", ws)
			}
		})
	}
}

func TestErrorBodies(t *testing.T) {
	long := strings.Repeat("<p>bad gateway</p>\n", 200)
	tests := []struct {
		name        string
		status      int
		body        string
		wantCode    int
		wantMessage string
		maxLen      int
	}{
		{"json", 404, `{"error":{"code":404,"message":"websocket not found"}}`, 404, "websocket not found", 0},
		{"json extra fields", 400, `{"error":{"code":400,"message":"bad secret","errors":[{"x":1}]}}`, 400, "bad secret", 0},
		{"plain text", 400, "  missing\n field  \n", 0, "missing field", 0},
		{"other json", 409, `{"message":"conflict"}`, 0, `{"message":"conflict"}`, 0},
		{"empty", 403, "", 0, "", 0},
		{"html trimmed", 400, long, 0, "<p>bad gateway</p> <p>bad gateway</p>", 520},
		{"echoes key", 401, `{"error":{"code":401,"message":"invalid key ` + testKey + `"}}`, 401, "invalid key <redacted>", 0},
		{"echoes key in text", 401, "bad key " + testKey, 0, "bad key <redacted>", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			_, err := newClient(t, srv.URL, nil).Websocket(context.Background(), 1000)
			var apiErr *dialpad.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v is not an *APIError", err)
			}
			if apiErr.Status != tt.status || apiErr.Code != tt.wantCode || apiErr.Op != "get websocket 1000" {
				t.Errorf("APIError = %+v", apiErr)
			}
			if !strings.HasPrefix(apiErr.Message, tt.wantMessage) {
				t.Errorf("Message = %q, want prefix %q", apiErr.Message, tt.wantMessage)
			}
			if tt.maxLen > 0 && len(apiErr.Message) > tt.maxLen {
				t.Errorf("Message is %d bytes, want at most %d", len(apiErr.Message), tt.maxLen)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error %q contains the API key", err)
			}
		})
	}
}

func TestPermanentStatuses(t *testing.T) {
	tests := []struct {
		status    int
		permanent bool
		calls     int32 // 1 + MaxRetries when retried
	}{
		{401, true, 1},
		{403, true, 1},
		{404, true, 1},
		{400, false, 1},
		{409, false, 1},
		{500, false, 4},
		{502, false, 4},
		{429, false, 4},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			var calls atomic.Int32
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.WriteHeader(tt.status)
			})
			_, err := newClient(t, srv.URL, nil).Subscription(context.Background(), dialpad.Contact, 12)
			var apiErr *dialpad.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != tt.status {
				t.Fatalf("error = %v, want *APIError %d", err, tt.status)
			}
			if apiErr.Permanent() != tt.permanent || dialpad.IsPermanent(err) != tt.permanent {
				t.Errorf("Permanent() = %v, want %v", apiErr.Permanent(), tt.permanent)
			}
			if got := calls.Load(); got != tt.calls {
				t.Errorf("server saw %d calls, want %d", got, tt.calls)
			}
		})
	}
}

// TestPostNeverRetried checks that creating requests get exactly one attempt
// and that a 429 reports its Retry-After to the caller.
func TestPostNeverRetried(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		want       time.Duration
	}{
		{429, "7", 7 * time.Second},
		{500, "", 0},
		{503, "2", 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			var calls atomic.Int32
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
			})
			c := newClient(t, srv.URL, nil)
			ctx := context.Background()
			_, errWS := c.CreateWebsocket(ctx, "s")
			_, errWH := c.CreateWebhook(ctx, "https://example.com/hook", "")
			_, errSub := c.CreateSubscription(ctx, dialpad.Changelog, dialpad.SubscriptionRequest{})
			for _, err := range []error{errWS, errWH, errSub} {
				var apiErr *dialpad.APIError
				if !errors.As(err, &apiErr) || apiErr.Status != tt.status || apiErr.RetryAfter != tt.want {
					t.Errorf("error = %#v, want *APIError %d with RetryAfter %s", err, tt.status, tt.want)
				}
			}
			if got := calls.Load(); got != 3 {
				t.Errorf("server saw %d calls for 3 creates, want 3", got)
			}
		})
	}
}

// TestRetryAfterHonoured checks the wait before a retry (read from the
// warning): a Retry-After as seconds or as an HTTP date that asks for more
// than the backoff wins, capped at RetryWaitMax; one of 0, or a date past,
// leaves the backoff (between RetryWaitMin and twice it, for a first retry).
func TestRetryAfterHonoured(t *testing.T) {
	const lo, hi = 5 * time.Millisecond, 20 * time.Millisecond
	tests := []struct {
		name           string
		retryAfter     string
		waitLo, waitHi time.Duration
	}{
		{"seconds capped", "3", hi, hi},
		{"more seconds than fit, capped", "99999999999999999999", hi, hi},
		{"date capped", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), hi, hi},
		{"date in the past", "Mon, 02 Jan 2006 15:04:05 GMT", lo, 2 * lo},
		{"zero", "0", lo, 2 * lo},
		{"none", "", lo, 2 * lo},
	}
	waitRE := regexp.MustCompile(`wait=(\S+)`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 {
					if tt.retryAfter != "" {
						w.Header().Set("Retry-After", tt.retryAfter)
					}
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				io.WriteString(w, `{"items":[{"id":"1"}]}`)
			})
			var logs logBuffer
			c := newClient(t, srv.URL, func(cfg *dialpad.Config) {
				cfg.RetryWaitMin, cfg.RetryWaitMax = lo, hi
				cfg.Logger = logs.logger()
			})
			hooks, err := c.ListWebhooks(context.Background())
			if err != nil || len(hooks) != 1 {
				t.Fatalf("ListWebhooks = %v, %v", hooks, err)
			}
			if got := calls.Load(); got != 2 {
				t.Errorf("server saw %d calls, want 2", got)
			}
			// A warning: a user sees why a start takes longer.
			out := logs.String()
			if !strings.Contains(out, `op="list webhooks"`) || !strings.Contains(out, "status=429") || !strings.Contains(out, "level=WARN") {
				t.Errorf("log %q lacks the retry warning", out)
			}
			m := waitRE.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("log %q has no wait", out)
			}
			wait, err := time.ParseDuration(m[1])
			if err != nil || wait < tt.waitLo || wait > tt.waitHi {
				t.Errorf("wait = %s (%v), want %s to %s", m[1], err, tt.waitLo, tt.waitHi)
			}
		})
	}
}

func TestPaginationRepeatingCursor(t *testing.T) {
	var calls atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		cursor := "A"
		if n%2 == 0 {
			cursor = "B"
		}
		fmt.Fprintf(w, `{"items":[{"id":"%d"}],"cursor":%q}`, n, cursor)
	})
	_, err := newClient(t, srv.URL, nil).ListWebsockets(context.Background())
	if err == nil || !strings.Contains(err.Error(), "repeated a list cursor") {
		t.Fatalf("error = %v, want a repeated-cursor error", err)
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("server saw %d calls, want 3", got)
	}
}

func TestPaginationFollowsCursor(t *testing.T) {
	var mu sync.Mutex
	var cursors []string
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		cur := r.URL.Query().Get("cursor")
		mu.Lock()
		cursors = append(cursors, cur)
		mu.Unlock()
		switch cur {
		case "":
			io.WriteString(w, `{"items":[{"id":1},{"id":"2"}],"cursor":"p2=+/"}`)
		case "p2=+/":
			io.WriteString(w, `{"items":[{"id":3}],"cursor":"p3"}`)
		case "p3":
			io.WriteString(w, `{"items":[],"cursor":""}`)
		default:
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	subs, err := newClient(t, srv.URL, nil).ListSubscriptions(context.Background(), dialpad.AgentStatus)
	if err != nil {
		t.Fatal(err)
	}
	var ids []dialpad.ID
	for _, s := range subs {
		ids = append(ids, s.ID)
	}
	if fmt.Sprint(ids) != "[1 2 3]" || fmt.Sprint(cursors) != "[ p2=+/ p3]" {
		t.Errorf("ids %v, cursors %q", ids, cursors)
	}
}

func TestBodyTooLarge(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"id":"1","websocket_url":"`)
		chunk := strings.Repeat("x", 64<<10)
		for range 70 { // 4.4 MiB
			io.WriteString(w, chunk)
		}
		io.WriteString(w, `"}`)
	})
	_, err := newClient(t, srv.URL, nil).Websocket(context.Background(), 1)
	if err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("error = %v, want a body-too-large error", err)
	}
}

func TestMalformedSuccessBody(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			return // 200 with an empty body
		}
		io.WriteString(w, `<html>`)
	})
	c := newClient(t, srv.URL, nil)
	if _, err := c.Webhook(context.Background(), 3); err == nil || !strings.HasPrefix(err.Error(), "dialpad: get webhook 3: decode response") {
		t.Errorf("error = %v, want a decode error", err)
	}
	w, err := c.DeleteWebhook(context.Background(), 3)
	if err != nil || w.ID != 3 {
		t.Errorf("DeleteWebhook with empty body = %+v, %v", w, err)
	}
}

// TestTransportErrors checks that connection failures are retried for GETs,
// wrapped with the operation, and free of the key.
func TestTransportErrors(t *testing.T) {
	var calls atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		hj, ok := w.(http.Hijacker)
		if !ok {
			t.Error("no hijacker")
			return
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			conn.Close() // drop the connection without a response
		}
	})
	var logs logBuffer
	c := newClient(t, srv.URL, func(cfg *dialpad.Config) { cfg.Logger = logs.logger() })
	_, err := c.Websocket(context.Background(), 1000)
	if err == nil || !strings.HasPrefix(err.Error(), "dialpad: get websocket 1000: ") {
		t.Fatalf("error = %v", err)
	}
	var apiErr *dialpad.APIError
	if errors.As(err, &apiErr) {
		t.Errorf("transport failure reported as *APIError %v", apiErr)
	}
	if got := calls.Load(); got != 4 {
		t.Errorf("server saw %d calls, want 4 (1 + 3 retries)", got)
	}
	if strings.Contains(err.Error(), testKey) || strings.Contains(logs.String(), testKey) {
		t.Errorf("key leaked: error %q, logs %q", err, logs.String())
	}

	calls.Store(0)
	if _, err := c.CreateWebsocket(context.Background(), ""); err == nil {
		t.Error("CreateWebsocket succeeded on a dropped connection")
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("POST: server saw %d calls, want 1", got)
	}
}

func TestContextAndTimeout(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers; ends when the client gives up
	})
	c := newClient(t, srv.URL, func(cfg *dialpad.Config) {
		cfg.Timeout = 30 * time.Millisecond
		cfg.MaxRetries = -1
	})
	if _, err := c.Websocket(context.Background(), 1); err == nil || !strings.Contains(err.Error(), "get websocket 1") {
		t.Errorf("timeout error = %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.ListWebsockets(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled error = %v, want context.Canceled", err)
	}
}

func TestUnknownSubscriptionType(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
	})
	c := newClient(t, srv.URL, nil)
	ctx := context.Background()
	bogus := dialpad.SubscriptionType("../websockets")
	if _, err := c.Subscription(ctx, bogus, 1); err == nil || !strings.Contains(err.Error(), "unknown subscription type") {
		t.Errorf("error = %v", err)
	}
	if _, err := c.ListSubscriptions(ctx, ""); err == nil {
		t.Error("ListSubscriptions with empty type succeeded")
	}
}

// TestRetryWarningSaysWhy: a retry's warning gives the reason an attempt
// failed without a response (connection refused, dropped), not only
// status=0, and never the key or the request's URL.
func TestRetryWarningSaysWhy(t *testing.T) {
	refused := serve(t, func(w http.ResponseWriter, r *http.Request) {})
	refusedURL := refused.URL
	refused.Close()
	dropped := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	})
	busy := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	for _, tc := range []struct {
		name, url string
		want      *regexp.Regexp
	}{
		{"refused", refusedURL, regexp.MustCompile(`status=0 wait=\S+ error="dial tcp 127\.0\.0\.1:\d+: connect: connection refused"`)},
		{"dropped", dropped.URL, regexp.MustCompile(`status=0 wait=\S+ error=EOF`)},
		{"503", busy.URL, regexp.MustCompile(`status=503 wait=\S+\n`)},
	} {
		var logs logBuffer
		c := newClient(t, tc.url, func(cfg *dialpad.Config) { cfg.Logger = logs.logger() })
		if _, err := c.Websocket(context.Background(), 1000); err == nil {
			t.Fatalf("%s: Websocket succeeded", tc.name)
		}
		lines := strings.Count(logs.String(), "dialpad: API request failed; retrying")
		if got := len(tc.want.FindAllString(logs.String(), -1)); lines != 3 || got != 3 {
			t.Errorf("%s: %d of %d retry warnings match %s:\n%s", tc.name, got, lines, tc.want, logs.String())
		}
		if strings.Contains(logs.String(), testKey) || strings.Contains(logs.String(), "/websockets/") {
			t.Errorf("%s: the key or URL is logged:\n%s", tc.name, logs.String())
		}
	}
}

// TestRetryWarningWaitIsADuration: with JSON logs (--log-format json) a
// retry's wait reads as a duration ("3ms"), as every other wait in the
// log, not as a count of nanoseconds, and to the millisecond.
func TestRetryWarningWaitIsADuration(t *testing.T) {
	busy := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	var logs logBuffer
	c := newClient(t, busy.URL, func(cfg *dialpad.Config) {
		cfg.MaxRetries = 1
		cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	if _, err := c.Websocket(context.Background(), 1000); err == nil {
		t.Fatal("Websocket succeeded")
	}
	var line struct {
		Msg  string `json:"msg"`
		Wait any    `json:"wait"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(logs.String())), &line); err != nil {
		t.Fatalf("log %q: %v", logs.String(), err)
	}
	s, ok := line.Wait.(string)
	// To the millisecond, as the agent's retry_in: it read 553.432968ms.
	if d, err := time.ParseDuration(s); !ok || err != nil || d%time.Millisecond != 0 {
		t.Errorf("%s: wait = %v, want a duration in whole milliseconds such as \"3ms\"", line.Msg, line.Wait)
	}
}
