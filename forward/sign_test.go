package forward

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
)

// TestDeliverResigns: with SignSecret the handler gets an HS256 JWT that
// verifies with that secret and whose payload is the exact event bytes,
// whether the frame was JSON or a JWT signed with another secret, with or
// without a byte order mark or whitespace around it.
func TestDeliverResigns(t *testing.T) {
	event := []byte(`{"call_id":9007199254740993,"state":"ringing"}`)
	other, err := signing.SignHS256(event, "websocket-secret")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  Request
	}{
		{"json frame", Request{Body: event}},
		{"jwt frame", Request{Body: []byte(other), JWT: true}},
		// A frame may have a byte order mark and whitespace around the
		// object; the JWT payload is the object alone, as JWT libraries
		// refuse a payload that starts with a byte order mark.
		{"json frame with a byte order mark and a newline", Request{Body: append(append([]byte("\xef\xbb\xbf \t"), event...), "\r\n"...)}},
		{"jwt frame with a newline after it", Request{Body: []byte(other + "\n"), JWT: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, statuses(200))
			f := newForwarder(t, rc.URL, Config{SignSecret: "handler-secret"})
			if res := f.Deliver(context.Background(), tc.req); res.Err != nil {
				t.Fatal(res.Err)
			}
			got := rc.recorded()[0]
			if err := signing.VerifyHS256(got.body, "handler-secret"); err != nil {
				t.Fatalf("re-signed body does not verify: %v", err)
			}
			payload, err := signing.Payload(got.body)
			if err != nil || string(payload) != string(event) {
				t.Fatalf("payload = %q, %v; want the exact event bytes", payload, err)
			}
			if ct := got.header.Get("Content-Type"); ct != DefaultContentTypeJWT {
				t.Fatalf("Content-Type %q", ct)
			}
		})
	}
}

// TestDeliverStandardWebhooks: every attempt carries Standard Webhooks
// headers that verify as a Standard Webhooks receiver checks them.
func TestDeliverStandardWebhooks(t *testing.T) {
	key, err := signing.ParseStandardSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t, statuses(http.StatusServiceUnavailable, http.StatusOK))
	f := newForwarder(t, rc.URL, Config{Standard: &key})
	body := []byte(`{"id":1}`)
	if res := f.Deliver(context.Background(), Request{ID: "msg-1", Body: body}); res.Err != nil {
		t.Fatal(res.Err)
	}
	for i, h := range rc.recorded() {
		if err := key.Verify(h.header, h.body, time.Now(), 5*time.Minute); err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
		if id := h.header.Get(signing.HeaderWebhookID); id != "msg-1" {
			t.Fatalf("attempt %d webhook-id %q, want the delivery id", i+1, id)
		}
	}
}
