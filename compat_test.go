package main

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
	"github.com/golang-jwt/jwt/v5"
)

// verifyLikeAHandler checks a body as a handler written for Dialpad's
// webhooks does: an HS256 JWT that verifies with the secret.
func verifyLikeAHandler(body []byte, secret string) error {
	_, err := jwt.Parse(string(body), func(*jwt.Token) (any, error) { return []byte(secret), nil },
		jwt.WithValidMethods([]string{"HS256"}))
	return err
}

// TestParityWithWebhookDelivery: the fake delivers one event to a webhook
// subscription (POST to hook_url) and the same event over the websocket to
// the agent; one handler receives both. Bodies are byte-identical, the
// Content-Type matches and the handler's JWT check passes on both.
func TestParityWithWebhookDelivery(t *testing.T) {
	const secret = "shared-handler-secret"
	h := newHook(t, nil)
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, secret)
	hookID := srv.AddWebhook(h.URL+"/webhook", secret)
	if _, err := srv.AddSubscription("call", hookID, dialpadtest.SubscriptionOptions{}); err != nil {
		t.Fatal(err)
	}
	r := start(t, listenArgs(srv, wsID, h.URL+"/agent")...)
	r.waitConnected(t, srv, 1)

	ev := dialpadtest.NewGenerator(11).CallLifecycle()[1]
	if d := srv.Publish("call", ev); d.Frames != 1 || d.Webhooks != 1 {
		t.Fatalf("Publish = %+v, want one frame and one webhook POST", d)
	}
	got := h.waitRequests(t, 2, 10*time.Second)
	a, b := got[0], got[1]
	if string(a.body) != string(b.body) {
		t.Fatalf("bodies differ:\nwebhook %.60q\nagent   %.60q", a.body, b.body)
	}
	if a.header.Get("Content-Type") != b.header.Get("Content-Type") {
		t.Fatalf("Content-Type: %q vs %q", a.header.Get("Content-Type"), b.header.Get("Content-Type"))
	}
	for _, req := range got {
		if err := verifyLikeAHandler(req.body, secret); err != nil {
			t.Fatalf("handler's JWT check failed: %v", err)
		}
	}
}

// TestVerifySecretRefusesBadFrames: with --verify-secret, forged, truncated,
// re-signed-with-a-wrong-secret and alg-none frames, and frames that are
// not even events, never reach the handler and each is refused with its
// reason (a dead letter); a good frame still is delivered.
func TestVerifySecretRefusesBadFrames(t *testing.T) {
	const secret = "websocket-secret"
	h := newHook(t, nil)
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, secret)
	r := start(t, listenArgs(srv, wsID, h.URL, "--verify-secret", secret, "--log-format", "json")...)
	r.waitConnected(t, srv, 1)

	ev := dialpadtest.NewGenerator(12).SMS()
	good, _ := signing.SignHS256(ev, secret)
	wrong, _ := signing.SignHS256(ev, "another-secret")
	parts := strings.Split(good, ".")
	forged := parts[0] + "." + b64(`{"id":1,"from_number":"+15550100999"}`) + "." + parts[2]
	none := b64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + "."
	noAlg := b64(`{"typ":"JWT"}`) + "." + parts[1] + "." + parts[2]
	for _, tc := range []struct{ name, frame, reason string }{
		{"forged", forged, "bad signature"},
		{"truncated", good[:len(good)-10], "malformed"},
		{"wrong secret", wrong, "bad signature"},
		{"alg none", none, "alg"},
		{"unsigned json", string(ev), "unsigned"},
		// Not even an event: refused and kept all the same, not skipped.
		{"no alg", noAlg, "JWT header has no alg"},
		{"not JSON", "hello", "neither a JSON object nor a compact JWT"},
	} {
		if d := srv.PublishRaw("sms", []byte(tc.frame)); d.Frames != 1 {
			t.Fatalf("%s: PublishRaw wrote %d frames", tc.name, d.Frames)
		}
		r.stdout.waitFor(t, tc.reason, 10*time.Second)
	}
	srv.Publish("sms", ev)
	got := h.waitRequests(t, 1, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	got = h.waitRequests(t, 0, 0)
	if len(got) != 1 || string(got[0].body) != good {
		t.Fatalf("handler got %d POSTs, want only the good frame", len(got))
	}
	if n := strings.Count(r.stdout.String(), "frame refused: signature check failed; not forwarded"); n != 5 {
		t.Fatalf("%d signature refusals logged, want 5:\n%s", n, r.stdout.String())
	}
	if n := strings.Count(r.stdout.String(), "frame refused: not an event, so not a signed one; not forwarded"); n != 2 {
		t.Fatalf("%d not-an-event refusals logged, want 2:\n%s", n, r.stdout.String())
	}
	mustContain(t, r.stdout.String(), `"refused_signatures":7`)
	mustContain(t, r.stdout.String(), `"invalid_frames":0`)
}

// TestResigningAndStandardWebhooks: re-signed deliveries verify with the
// handler's own secret; Standard Webhooks deliveries verify as a Standard
// Webhooks receiver checks them.
func TestResigningAndStandardWebhooks(t *testing.T) {
	const whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	key, err := signing.ParseStandardSecret(whsec)
	if err != nil {
		t.Fatal(err)
	}
	h := newHook(t, nil)
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "websocket-secret")
	r := start(t, listenArgs(srv, wsID, h.URL, "--sign-secret", "handler-secret", "--standard-webhooks-secret", whsec)...)
	r.waitConnected(t, srv, 1)
	ev := dialpadtest.NewGenerator(13).Contact()
	srv.Publish("contact", ev)
	req := h.waitRequests(t, 1, 10*time.Second)[0]
	if err := verifyLikeAHandler(req.body, "handler-secret"); err != nil {
		t.Fatalf("re-signed body does not verify with the handler's secret: %v", err)
	}
	if payload, err := signing.Payload(req.body); err != nil || string(payload) != string(ev) {
		t.Fatalf("re-signed payload = %q, %v; want the exact event bytes", payload, err)
	}
	if err := key.Verify(req.header, req.body, time.Now(), 5*time.Minute); err != nil {
		t.Fatalf("Standard Webhooks signature: %v", err)
	}
	if id := req.header.Get(signing.HeaderWebhookID); id != req.header.Get("X-Dialpad-Tunnel-Delivery-Id") {
		t.Fatalf("webhook-id %q is not the delivery id", id)
	}
	for _, out := range []string{r.stdout.String(), r.stderr.String()} {
		for _, secret := range []string{"handler-secret", whsec, "websocket-secret"} {
			if strings.Contains(out, secret) {
				t.Fatalf("output shows a secret")
			}
		}
	}
}

// TestRouting: call and SMS events land on their own handlers, with their
// own headers; a dead route keeps retrying without delaying a live one. A
// type may be spelt in any case in --route and --route-header (a header
// for "SMS" was refused as having no route).
func TestRouting(t *testing.T) {
	calls, sms := newHook(t, nil), newHook(t, nil)
	dead := closedURL(t)
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	r := start(t, listenArgs(srv, wsID, "", "--events", "call,sms",
		"--route", "call="+calls.URL, "--route", "sms="+sms.URL, "--route", "Sms="+dead,
		"--route-header", "SMS=X-Team: messaging", "--retry-wait-max", "50ms")...)
	r.waitConnected(t, srv, 1)
	gen := dialpadtest.NewGenerator(14)
	for range 3 {
		srv.Publish("sms", gen.SMS())
	}
	for _, ev := range gen.CallLifecycle() {
		srv.Publish("call", ev)
	}
	srv.Publish("contact", gen.Contact()) // filtered out by --events: not delivered
	gotSMS := sms.waitRequests(t, 3, 10*time.Second)
	gotCalls := calls.waitRequests(t, 5, 10*time.Second)
	for _, req := range gotSMS {
		if req.header.Get("X-Dialpad-Tunnel-Event-Type") != "sms" || req.header.Get("X-Team") != "messaging" {
			t.Fatalf("sms route got type %q, X-Team %q", req.header.Get("X-Dialpad-Tunnel-Event-Type"), req.header.Get("X-Team"))
		}
	}
	for _, req := range gotCalls {
		if req.header.Get("X-Dialpad-Tunnel-Event-Type") != "call" || req.header.Get("X-Team") != "" {
			t.Fatalf("call route got type %q, X-Team %q", req.header.Get("X-Dialpad-Tunnel-Event-Type"), req.header.Get("X-Team"))
		}
	}
	r.stdout.waitFor(t, "delivery attempt failed; retrying", 10*time.Second) // the dead sms route is still trying
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if n := len(calls.waitRequests(t, 0, 0)) + len(sms.waitRequests(t, 0, 0)); n != 8 {
		t.Fatalf("handlers got %d POSTs, want 8 (the contact event is filtered out)", n)
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func closedURL(t *testing.T) string {
	t.Helper()
	h := newHook(t, func(int) int { return http.StatusOK })
	u := h.URL + "/gone"
	h.Close()
	return u
}

// TestCallStateFilter: --call-states keeps only those states; "all" (the
// Dialpad word for every state) keeps every one.
func TestCallStateFilter(t *testing.T) {
	for _, tc := range []struct {
		states string
		want   int
	}{
		{"all", 5},
		{"ringing,hangup", 2},
	} {
		t.Run(tc.states, func(t *testing.T) {
			h := newHook(t, nil)
			srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
			r := start(t, listenArgs(srv, wsID, h.URL, "--call-states", tc.states)...)
			r.waitConnected(t, srv, 1)
			for _, ev := range dialpadtest.NewGenerator(15).CallLifecycle()[:5] {
				srv.Publish("call", ev)
			}
			end := dialpadtest.NewGenerator(16).SMS() // not a call: never filtered by state
			srv.Publish("sms", end)
			h.waitRequests(t, tc.want+1, 10*time.Second)
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}
			if got := len(h.waitRequests(t, 0, 0)); got != tc.want+1 {
				t.Fatalf("handler got %d POSTs, want %d calls + 1 sms", got, tc.want)
			}
		})
	}
}
