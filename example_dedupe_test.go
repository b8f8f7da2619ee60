package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
)

// TestExampleHandlersDropSecondCopy: every example handler answers 200 to
// a second copy of an event (the same X-Dialpad-Tunnel-Event-Id, another
// delivery id: what a second agent on the websocket sends) and does not
// process it again; an event it refused is not remembered, so its retry is
// processed; a POST without the header (a real Dialpad webhook) is always
// processed. They processed every copy.
func TestExampleHandlersDropSecondCopy(t *testing.T) {
	const secret = "example-handler-secret"
	sign := func(payload string) string { return signedFor(t, payload, secret) }
	eachExample(t, func(t *testing.T, name string) {
		h := runExample(t, name, secret)
		send := func(body, eventID, deliveryID string) int {
			t.Helper()
			return postJWT(t, h.url, body, eventID, deliveryID)
		}

		// Two copies of one event, as two agents send them.
		const copied = "0c5f1a3e-3d1b-5d4e-9a51-6a2b8c1e7f01"
		if got := send(sign(`{"call_id":101,"state":"hangup"}`), copied, "delivery-a"); got != http.StatusOK {
			t.Errorf("first copy: %d, want 200", got)
		}
		if got := send(sign(`{"call_id":101,"state":"hangup"}`), copied, "delivery-b"); got != http.StatusOK {
			t.Errorf("second copy: %d, want 200", got)
		}
		h.stdout.waitFor(t, "duplicate event "+copied, 10*time.Second)

		// Refused twice (a body that fails verification), then
		// delivered: the refusals left nothing remembered.
		const retried = "7d0e2b4a-90c6-5f3e-8b7d-2e4f6a8c0b12"
		forged, err := signing.SignHS256([]byte(`{"call_id":102,"state":"hangup"}`), "not-"+secret)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if got := send(forged, retried, "delivery-c"); got != http.StatusUnauthorized {
				t.Errorf("refused event: %d, want 401 (a refused event is no duplicate)", got)
			}
		}
		if got := send(sign(`{"call_id":102,"state":"hangup"}`), retried, "delivery-c"); got != http.StatusOK {
			t.Errorf("retry of a refused event: %d, want 200", got)
		}
		h.stdout.waitFor(t, "call_id=102\n", 10*time.Second)

		// No event id: nothing to drop by.
		for _, d := range []string{"delivery-d", "delivery-e"} {
			if got := send(sign(`{"call_id":103,"state":"hangup"}`), "", d); got != http.StatusOK {
				t.Errorf("event without an event id: %d, want 200", got)
			}
		}
		waitCount(t, &h.stdout, "call_id=103\n", 2)

		out := h.stdout.String()
		for line, want := range map[string]int{
			"[verified] call hangup call_id=101\n": 1,
			"duplicate event " + copied:            1,
			"[verified] call hangup call_id=102\n": 1,
			"duplicate event " + retried:           0,
			"[verified] call hangup call_id=103\n": 2,
		} {
			if n := strings.Count(out, line); n != want {
				t.Errorf("handler printed %q %d times, want %d:\n%s", strings.TrimSpace(line), n, want, out)
			}
		}
	})
}

// TestExampleHandlersRefuseLongEventID: an X-Dialpad-Tunnel-Event-Id
// longer than any the agent sends (a UUID, 36 characters) is refused with
// 400 and not processed: each one was remembered, and 100,000 ids of a
// header's length (1 MB in the Go handler) filled gigabytes.
func TestExampleHandlersRefuseLongEventID(t *testing.T) {
	const secret = "example-handler-secret"
	event, err := signing.SignHS256([]byte(`{"call_id":104,"state":"hangup"}`), secret)
	if err != nil {
		t.Fatal(err)
	}
	eachExample(t, func(t *testing.T, name string) {
		h := runExample(t, name, secret)
		if got := postJWT(t, h.url, event, strings.Repeat("a", 8000), "delivery-f"); got != http.StatusBadRequest {
			t.Errorf("an event id of 8000 characters: %d, want 400", got)
		}
		h.stderr.waitFor(t, "rejected 400: X-Dialpad-Tunnel-Event-Id of 8000 ", 10*time.Second)
		if got := postJWT(t, h.url, event, "5b8f3c2e-1d4a-5e6f-9a0b-1c2d3e4f5a6b", "delivery-g"); got != http.StatusOK {
			t.Errorf("the event with its event id: %d, want 200", got)
		}
		h.stdout.waitFor(t, "call_id=104\n", 10*time.Second)
		if n := strings.Count(h.stdout.String(), "call_id=104\n"); n != 1 {
			t.Errorf("processed %d times, want once:\n%s", n, h.stdout.String())
		}
	})
}

// postJWT POSTs the signed event body to url as the agent does, with
// eventID (none if "") and deliveryID, and returns the answer's status.
func postJWT(t *testing.T, url, body, eventID, deliveryID string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/jwt")
	if eventID != "" {
		req.Header.Set(forward.DefaultEventIDHeader, eventID)
	}
	req.Header.Set(forward.DefaultIDHeader, deliveryID)
	req.Close = true // no idle connection left for goleak
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestExampleHandlersBehindTwoAgents walks README's "Two agents, no gap at
// a restart": two listens on one websocket, each with its own spool, in
// front of one example handler; one is stopped and started again while
// events are published. The handler processes every event once and logs
// the second copy of each event both agents carried as a duplicate, though
// the copies' JWTs differ (iat minted per connection).
func TestExampleHandlersBehindTwoAgents(t *testing.T) {
	const secret = "example-handler-secret"
	eachExample(t, func(t *testing.T, name string) {
		h := runExample(t, name, secret)
		srv, wsID := fakeDialpad(t, dialpadtest.Config{JWTIssuedAt: true}, secret)
		a, b, startAgent, _ := twoAgents(t, srv, wsID, h.url)

		callID := 1000
		publish := func(n, conns int) {
			t.Helper()
			for range n {
				callID++
				ev := fmt.Sprintf(`{"call_id":%d,"state":"hangup"}`, callID)
				if d := srv.Publish("call", []byte(ev)); d.Frames != conns {
					t.Fatalf("event written to %d connections, want %d", d.Frames, conns)
				}
			}
		}
		publish(5, 2)
		waitCount(t, &h.stdout, "duplicate event ", 5)

		if err := a.stop(t); err != nil {
			t.Fatalf("stop: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.WaitConnectionsAtMost(ctx, 1); err != nil {
			t.Fatal(err)
		}
		publish(5, 1) // only b carries these
		a = startAgent(0)
		a.waitConnected(t, srv, 2)
		publish(5, 2)
		waitCount(t, &h.stdout, "duplicate event ", 10)
		waitCount(t, &h.stdout, "[verified] ", 15)

		for _, r := range []*run{a, b} {
			if err := r.stop(t); err != nil {
				t.Fatalf("listen: %v", err)
			}
		}
		out := h.stdout.String()
		for id := 1001; id <= callID; id++ {
			if n := strings.Count(out, fmt.Sprintf("call_id=%d\n", id)); n != 1 {
				t.Errorf("call_id=%d processed %d times, want once:\n%s", id, n, out)
			}
		}
		if n := strings.Count(out, "duplicate event "); n != 10 {
			t.Errorf("%d duplicates logged, want the 10 events both agents carried:\n%s", n, out)
		}
		if s := h.stderr.String(); s != "" {
			t.Errorf("handler refused an event the agents forwarded:\n%s", s)
		}
	})
}

// waitCount blocks until out holds want at least n times.
func waitCount(t *testing.T, out *syncBuffer, want string, n int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for strings.Count(out.String(), want) < n {
		select {
		case <-out.notify():
		case <-deadline:
			t.Fatalf("output has %q %d times within 20s, want %d:\n%s", want, strings.Count(out.String(), want), n, out.String())
		}
	}
}
