package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks header names (https://www.standardwebhooks.com/,
// spec/standard-webhooks.md "Webhook headers"). http.Header canonicalises
// them (Webhook-Id, …); HTTP header names are case-insensitive.
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

const (
	// standardSecretPrefix marks a serialised symmetric Standard Webhooks
	// secret: "whsec_" + base64(key bytes).
	standardSecretPrefix = "whsec_"
	// standardVersion is the signature identifier of HMAC-SHA256 signatures.
	standardVersion = "v1"
)

// StandardSecret is a Standard Webhooks symmetric signing key: the bytes
// that a "whsec_…" secret encodes. Get one from ParseStandardSecret; the
// zero value has no key. It never prints its key.
type StandardSecret struct {
	key []byte
}

// ParseStandardSecret decodes a serialised Standard Webhooks secret,
// "whsec_" followed by the standard base64 (padded or not) of the key bytes.
// The HMAC key is the decoded bytes, not the string. Errors wrap
// ErrNoSecret or ErrMalformed and do not repeat the secret.
func ParseStandardSecret(s string) (StandardSecret, error) {
	enc, ok := strings.CutPrefix(s, standardSecretPrefix)
	if !ok {
		if s == "" {
			return StandardSecret{}, ErrNoSecret
		}
		return StandardSecret{}, fmt.Errorf("%w: Standard Webhooks secret must start with %q", ErrMalformed, standardSecretPrefix)
	}
	enc = strings.TrimRight(enc, "=")
	key, err := base64.RawStdEncoding.DecodeString(enc)
	if err != nil {
		return StandardSecret{}, fmt.Errorf("%w: Standard Webhooks secret is not base64 after %q", ErrMalformed, standardSecretPrefix)
	}
	if len(key) == 0 {
		return StandardSecret{}, ErrNoSecret
	}
	return StandardSecret{key: key}, nil
}

// String returns a redacted form, so that a secret printed by mistake
// stays secret.
func (k StandardSecret) String() string { return standardSecretPrefix + "[redacted]" }

// GoString is String, for %#v.
func (k StandardSecret) GoString() string { return k.String() }

// Sign returns the webhook-signature value for one delivery:
// "v1," + base64(HMAC-SHA256(key, id + "." + unix seconds of ts + "." + body)).
// id must not contain "." (the spec's rule: it would make the signed
// content ambiguous). body is signed exactly as given.
func (k StandardSecret) Sign(id string, ts time.Time, body []byte) string {
	return standardVersion + "," + base64.StdEncoding.EncodeToString(k.mac(id, strconv.FormatInt(ts.Unix(), 10), body))
}

// Headers returns the three Standard Webhooks headers for one delivery.
func (k StandardSecret) Headers(id string, ts time.Time, body []byte) http.Header {
	h := make(http.Header, 3)
	h.Set(HeaderWebhookID, id)
	h.Set(HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderWebhookSignature, k.Sign(id, ts, body))
	return h
}

// Verify checks a delivery as a Standard Webhooks receiver would: the three
// headers are present, one of the space-separated "v1,…" signatures matches
// (compared in constant time; other versions are skipped), and, when
// tolerance is positive, webhook-timestamp is within tolerance of now.
// Errors wrap ErrMalformed, ErrBadSignature or ErrTimestamp.
func (k StandardSecret) Verify(h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if len(k.key) == 0 {
		return ErrNoSecret
	}
	id, ts, sigs := h.Get(HeaderWebhookID), h.Get(HeaderWebhookTimestamp), h.Get(HeaderWebhookSignature)
	for _, hv := range [...][2]string{{HeaderWebhookID, id}, {HeaderWebhookTimestamp, ts}, {HeaderWebhookSignature, sigs}} {
		if hv[1] == "" {
			return fmt.Errorf("%w: no %s header", ErrMalformed, hv[0])
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s is not unix seconds", ErrMalformed, HeaderWebhookTimestamp)
	}
	if tolerance > 0 {
		if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
			return fmt.Errorf("%w: %s %d is %s away from now, tolerance %s", ErrTimestamp, HeaderWebhookTimestamp, sec, d.Round(time.Second).Abs(), tolerance)
		}
	}
	want := k.mac(id, ts, body)
	for _, s := range strings.Fields(sigs) {
		version, enc, ok := strings.Cut(s, ",")
		if !ok || version != standardVersion {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(enc)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no v1 signature in %s matches the secret", ErrBadSignature, HeaderWebhookSignature)
}

// mac is HMAC-SHA256(key, id "." ts "." body).
func (k StandardSecret) mac(id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}
