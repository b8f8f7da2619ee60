package signing

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The published Standard Webhooks test vector: TestWebhookSign in
// libraries/go/webhook_test.go of github.com/standard-webhooks/standard-webhooks
// (commit 449485caf9c0303530c19524fbe4096680aafcf1); the same key, id and
// payload appear in that repository's other libraries' tests. Only the
// values are taken.
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorPayload   = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func vectorKey(t *testing.T) StandardSecret {
	t.Helper()
	k, err := ParseStandardSecret(vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestStandardSignVector(t *testing.T) {
	k := vectorKey(t)
	ts := time.Unix(vectorTimestamp, 0)
	if got := k.Sign(vectorID, ts, []byte(vectorPayload)); got != vectorSignature {
		t.Fatalf("Sign = %q, want the spec's %q", got, vectorSignature)
	}
	h := k.Headers(vectorID, ts, []byte(vectorPayload))
	for name, want := range map[string]string{
		"webhook-id":        vectorID,
		"webhook-timestamp": "1614265330",
		"webhook-signature": vectorSignature,
	} {
		if got := h.Get(name); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	if len(h) != 3 {
		t.Errorf("Headers has %d entries, want 3: %v", len(h), h)
	}
	if err := k.Verify(h, []byte(vectorPayload), ts.Add(time.Minute), 5*time.Minute); err != nil {
		t.Errorf("Verify of the vector: %v", err)
	}
	// unpadded base64 after whsec_ is the same key
	k2, err := ParseStandardSecret(strings.TrimRight(vectorSecret, "="))
	if err != nil || k2.Sign(vectorID, ts, []byte(vectorPayload)) != vectorSignature {
		t.Errorf("unpadded secret: %v", err)
	}
}

func TestStandardVerify(t *testing.T) {
	k := vectorKey(t)
	other, err := ParseStandardSecret("whsec_" + "c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ=")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(vectorTimestamp, 0)
	body := []byte(vectorPayload)
	headers := func(edit func(h http.Header)) http.Header {
		h := k.Headers(vectorID, now, body)
		if edit != nil {
			edit(h)
		}
		return h
	}
	for _, tc := range []struct {
		name      string
		h         http.Header
		body      string
		now       time.Time
		tolerance time.Duration
		want      error
		text      string
	}{
		{name: "valid", h: headers(nil)},
		{name: "several signatures, one valid", h: headers(func(h http.Header) {
			h.Set("webhook-signature", "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v1a,AAAA "+h.Get("webhook-signature")+" v2,xyz")
		})},
		{name: "old timestamp, no tolerance", h: headers(nil), now: now.Add(24 * time.Hour)},
		{name: "tampered body", h: headers(nil), body: `{"test": 2432232315}`, want: ErrBadSignature, text: "no v1 signature"},
		{name: "wrong secret", h: other.Headers(vectorID, now, body), want: ErrBadSignature, text: "matches the secret"},
		{name: "id changed", h: headers(func(h http.Header) { h.Set("webhook-id", "msg_other") }), want: ErrBadSignature},
		{name: "timestamp changed", h: headers(func(h http.Header) { h.Set("webhook-timestamp", "1614265331") }), want: ErrBadSignature},
		{name: "only a v1a signature", h: headers(func(h http.Header) {
			h.Set("webhook-signature", "v1a,"+strings.TrimPrefix(h.Get("webhook-signature"), "v1,"))
		}), want: ErrBadSignature},
		{name: "signature not base64", h: headers(func(h http.Header) { h.Set("webhook-signature", "v1,!!!") }), want: ErrBadSignature},
		{name: "no webhook-id", h: headers(func(h http.Header) { h.Del("webhook-id") }), want: ErrMalformed, text: "no webhook-id header"},
		{name: "no webhook-timestamp", h: headers(func(h http.Header) { h.Del("webhook-timestamp") }), want: ErrMalformed, text: "no webhook-timestamp header"},
		{name: "no webhook-signature", h: headers(func(h http.Header) { h.Del("webhook-signature") }), want: ErrMalformed, text: "no webhook-signature header"},
		{name: "timestamp not a number", h: headers(func(h http.Header) { h.Set("webhook-timestamp", "2021-02-25") }), want: ErrMalformed, text: "not unix seconds"},
		{name: "too old", h: headers(nil), now: now.Add(6 * time.Minute), tolerance: 5 * time.Minute, want: ErrTimestamp, text: "6m0s away from now, tolerance 5m0s"},
		{name: "too new", h: headers(nil), now: now.Add(-6 * time.Minute), tolerance: 5 * time.Minute, want: ErrTimestamp, text: "6m0s away"},
		{name: "within tolerance", h: headers(nil), now: now.Add(-4 * time.Minute), tolerance: 5 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := body
			if tc.body != "" {
				b = []byte(tc.body)
			}
			at := tc.now
			if at.IsZero() {
				at = now
			}
			err := k.Verify(tc.h, b, at, tc.tolerance)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("Verify = %v, want %v saying %q", err, tc.want, tc.text)
			}
			checkReason(t, err, tc.want)
			if strings.Contains(err.Error(), "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") {
				t.Errorf("reason %q contains the secret", err)
			}
		})
	}
	if err := (StandardSecret{}).Verify(headers(nil), body, now, 0); !errors.Is(err, ErrNoSecret) {
		t.Errorf("zero StandardSecret: Verify = %v, want ErrNoSecret", err)
	}
}

func TestParseStandardSecret(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
		text string
	}{
		{"", ErrNoSecret, "empty secret"},
		{"whsec_", ErrNoSecret, "empty secret"},
		{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ErrMalformed, `must start with "whsec_"`},
		{"whsec_not*base64!", ErrMalformed, "not base64"},
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw_-", ErrMalformed, "not base64"},
	} {
		_, err := ParseStandardSecret(tc.in)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("ParseStandardSecret(%q) = %v, want %v saying %q", tc.in, err, tc.want, tc.text)
		}
		if len(tc.in) > 8 && strings.Contains(err.Error(), tc.in[6:]) {
			t.Errorf("ParseStandardSecret(%q) = %v: the error repeats the secret", tc.in, err)
		}
	}
}

// TestStandardSecretNeverPrints: a secret logged by mistake shows no key.
func TestStandardSecretNeverPrints(t *testing.T) {
	k := vectorKey(t)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, k) + fmt.Sprintf(verb, struct{ K StandardSecret }{k})
		if strings.Contains(out, "MfKQ") || strings.Contains(out, "49") {
			t.Errorf("Sprintf(%s) = %q shows the key", verb, out)
		}
	}
}
