package forward

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRetryWaitIsTheWaitDeliverSaid: a delivery stopped during its retry
// wait (listen stopped, restarted) is resumed with RetryWait, which must
// be the wait Deliver announced (retry_in) and set (Result.RetryAt), not a
// new draw from the same range: a restarted agent retried 1.58 s after a
// failure it had announced a 1.76 s wait for. Waits of 1–2 s, five
// deliveries: a new draw would miss by more than the slack.
func TestRetryWaitIsTheWaitDeliverSaid(t *testing.T) {
	const slack = 20 * time.Millisecond
	rc := newReceiver(t, statuses(http.StatusServiceUnavailable))
	var logs bytes.Buffer
	f := newForwarder(t, rc.URL+"/hook", Config{MaxAttempts: 2, RetryWaitMin: time.Second, RetryWaitMax: 30 * time.Second,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	for _, id := range []string{"a-1", "b-2", "c-3", "d-4", "e-5"} {
		// One attempt per call, as the agent resumes: RetryAt is the wait.
		res := f.Deliver(context.Background(), Request{ID: id, Body: []byte(jsonEvent), Attempts: 1})
		if res.RetryAt.IsZero() || len(res.History) != 1 {
			t.Fatalf("%s: Result = %+v, want one failed attempt and a RetryAt", id, res)
		}
		last := res.History[0]
		set := res.RetryAt.Sub(last.At.Add(last.Duration))
		if want := f.RetryWait(id, 1, 0); set < want-slack || set > want+slack {
			t.Errorf("%s: Deliver set the retry %v after the attempt; RetryWait says %v", id, set, want)
		}
	}
	// Within one call: the retry_in logged after attempt 1 of 2.
	logs.Reset()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancelled as the wait is decided: logged, not waited.
	f.Deliver(ctx, Request{ID: "f-6", Body: []byte(jsonEvent), Attempted: func([]Attempt) { cancel() }})
	var line struct {
		RetryIn string `json:"retry_in"`
	}
	first, _, _ := strings.Cut(logs.String(), "\n")
	if err := json.Unmarshal([]byte(first), &line); err != nil || line.RetryIn == "" {
		t.Fatalf("no retry warning with retry_in: %v\n%s", err, logs.String())
	}
	if want := f.RetryWait("f-6", 1, 0).Round(time.Millisecond).String(); line.RetryIn != want {
		t.Errorf("retry_in=%s after attempt 1, RetryWait says %s", line.RetryIn, want)
	}
}

// TestNoRetryInPastStopAt: a failed attempt whose retry would come after
// the delivery's StopAt (its max age) does not announce that retry, which
// never comes: it says the max age ends first, and when. It logged
// retry_in=1s and the event was a dead letter before that.
func TestNoRetryInPastStopAt(t *testing.T) {
	rc := newReceiver(t, statuses(http.StatusServiceUnavailable))
	var logs bytes.Buffer
	f := newForwarder(t, rc.URL+"/hook", Config{MaxAttempts: 5, RetryWaitMin: time.Second, RetryWaitMax: 30 * time.Second,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	res := f.Deliver(context.Background(), Request{ID: "a-1", Body: []byte(jsonEvent), StopAt: time.Now().Add(300 * time.Millisecond)})
	if res.Attempts != 1 {
		t.Fatalf("Result = %+v, want one attempt before StopAt", res)
	}
	var line struct {
		Msg     string `json:"msg"`
		RetryIn string `json:"retry_in"`
		EndsIn  string `json:"ends_in"`
	}
	first, _, _ := strings.Cut(logs.String(), "\n")
	if err := json.Unmarshal([]byte(first), &line); err != nil {
		t.Fatalf("no warning of the failed attempt: %v\n%s", err, logs.String())
	}
	if line.Msg != StopAtFirstMsg || line.RetryIn != "" || line.EndsIn == "" {
		t.Errorf("warning = %+v, want %q with ends_in and no retry_in", line, StopAtFirstMsg)
	}
}
