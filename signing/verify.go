package signing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Reasons a frame or a delivery is refused. Every error this package returns
// for a refused input wraps exactly one of them (check with errors.Is), and
// its text says what was wrong in words an operator can act on. No error text
// ever contains a secret.
var (
	// ErrNoSecret: the secret to verify or sign with is empty.
	ErrNoSecret = errors.New("signing: empty secret")
	// ErrMalformed: not a compact JWT (segments, base64url, JSON), or a
	// Standard Webhooks header is missing or unreadable.
	ErrMalformed = errors.New("signing: malformed")
	// ErrAlgorithm: the JWT header names an algorithm other than HS256
	// ("none", HS384, HS512, RS256, ES256, …) or none at all.
	ErrAlgorithm = errors.New("signing: algorithm not accepted")
	// ErrBadSignature: well formed, but the signature does not match the
	// secret: forged, altered in transit, or signed with another secret.
	ErrBadSignature = errors.New("signing: bad signature")
	// ErrTimestamp: the signature matches but a time check that was asked
	// for failed (JWT exp/nbf/iat, Standard Webhooks webhook-timestamp).
	ErrTimestamp = errors.New("signing: timestamp rejected")
)

// hs256SigLen is the length of an HMAC-SHA256 signature in bytes.
const hs256SigLen = 32

// Verifier checks Dialpad event JWTs. Its zero value checks the algorithm
// and the signature only: whether Dialpad puts exp, iat or nbf in event JWTs
// is unknown (../shared/dialpad/API.md §6, Q3), so time claims are ignored
// unless CheckTime is set.
type Verifier struct {
	// CheckTime rejects a frame whose exp is past, or whose nbf or iat is in
	// the future, when those claims are present. Absent claims pass.
	CheckTime bool
	// Leeway is the clock skew allowed by CheckTime.
	Leeway time.Duration
	// Now is the clock of CheckTime; nil means time.Now.
	Now func() time.Time
}

// VerifyHS256 reports whether frame is a compact JWT signed with HS256 and
// the UTF-8 bytes of secret, as Dialpad signs webhook and websocket events
// (../shared/dialpad/API.md §6, §8), whitespace around it ignored
// (TrimSpace). Only HS256 is accepted. Time claims are
// not checked; see Verifier for that. A refused frame gives an error wrapping
// ErrNoSecret, ErrMalformed, ErrAlgorithm or ErrBadSignature.
func VerifyHS256(frame []byte, secret string) error {
	return Verifier{}.Verify(frame, secret)
}

// Verify is VerifyHS256 with v's time checks; a failed time check wraps
// ErrTimestamp. The JWT library decides; this package only explains.
func (v Verifier) Verify(frame []byte, secret string) error {
	if secret == "" {
		return ErrNoSecret
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()})}
	var claims jwt.Claims = &opaqueClaims{}
	if v.CheckTime {
		claims = &timeClaims{}
		opts = append(opts, jwt.WithLeeway(v.Leeway), jwt.WithIssuedAt())
		if v.Now != nil {
			opts = append(opts, jwt.WithTimeFunc(v.Now))
		}
	} else {
		opts = append(opts, jwt.WithoutClaimsValidation())
	}
	frame = TrimSpace(frame)
	_, err := jwt.NewParser(opts...).ParseWithClaims(string(frame), claims, func(*jwt.Token) (any, error) {
		return []byte(secret), nil
	})
	if err == nil {
		return nil
	}
	// Explained without the whitespace too: a space before a forged JWT
	// made its header read as "not base64url", hiding the bad signature.
	return explain(frame, err)
}

// opaqueClaims decodes no claim: the library still checks that the payload
// is a JSON object, without building a map of the whole event.
type opaqueClaims struct{}

func (*opaqueClaims) GetExpirationTime() (*jwt.NumericDate, error) { return nil, nil }
func (*opaqueClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (*opaqueClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (*opaqueClaims) GetIssuer() (string, error)                   { return "", nil }
func (*opaqueClaims) GetSubject() (string, error)                  { return "", nil }
func (*opaqueClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// timeClaims decodes only the time claims, for Verifier.CheckTime. They
// stay raw until validation, so that a bad exp is a time reason, not a
// malformed payload.
type timeClaims struct {
	opaqueClaims
	Exp json.RawMessage `json:"exp"`
	Iat json.RawMessage `json:"iat"`
	Nbf json.RawMessage `json:"nbf"`
}

func (c *timeClaims) GetExpirationTime() (*jwt.NumericDate, error) { return numericDate("exp", c.Exp) }
func (c *timeClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return numericDate("iat", c.Iat) }
func (c *timeClaims) GetNotBefore() (*jwt.NumericDate, error)      { return numericDate("nbf", c.Nbf) }

// numericDate decodes a time claim; absent or null is nil.
func numericDate(name string, raw json.RawMessage) (*jwt.NumericDate, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var d jwt.NumericDate
	if err := d.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("%s is not a number of seconds", name)
	}
	return &d, nil
}

// explain turns the JWT library's refusal of frame into one of this
// package's reasons, re-reading the frame to say precisely what is wrong.
// It runs only after the library has refused the frame, so it never
// accepts anything by itself.
func explain(frame []byte, libErr error) error {
	parts := bytes.Split(frame, []byte("."))
	switch {
	case len(parts) < 3:
		return fmt.Errorf("%w: not a compact JWT: %d segment(s), want 3 (header.payload.signature); truncated, or not a JWT", ErrMalformed, len(parts))
	case len(parts) > 3:
		return fmt.Errorf("%w: not a compact JWT: %d segments, want 3 (header.payload.signature)", ErrMalformed, len(parts))
	}
	header, err := b64.DecodeString(string(parts[0]))
	if err != nil {
		return fmt.Errorf("%w: JWT header is not base64url: %v", ErrMalformed, err)
	}
	if err := jsonObject(header); err != nil {
		return fmt.Errorf("%w: JWT header %v", ErrMalformed, err)
	}
	var h map[string]any
	if err := json.Unmarshal(header, &h); err != nil {
		return fmt.Errorf("%w: JWT header is not a JSON object: %v", ErrMalformed, err)
	}
	switch alg, ok := h["alg"].(string); {
	case !ok:
		return fmt.Errorf("%w: JWT header has no alg; only HS256 is accepted", ErrAlgorithm)
	case alg != jwt.SigningMethodHS256.Alg():
		return fmt.Errorf("%w: JWT header has alg %q; only HS256 is accepted", ErrAlgorithm, printable(alg))
	}
	payload, err := b64.DecodeString(string(parts[1]))
	if err != nil {
		return fmt.Errorf("%w: JWT payload is not base64url: %v", ErrMalformed, err)
	}
	if err := jsonObject(payload); err != nil {
		return fmt.Errorf("%w: JWT payload %v", ErrMalformed, err)
	}
	sig, err := b64.DecodeString(string(parts[2]))
	if err != nil {
		return fmt.Errorf("%w: JWT signature is not base64url: %v", ErrMalformed, err)
	}
	switch {
	case errors.Is(libErr, jwt.ErrTokenInvalidClaims):
		return fmt.Errorf("%w: %v", ErrTimestamp, unwrapClaims(libErr))
	case len(sig) == 0:
		return fmt.Errorf("%w: JWT signature is missing", ErrMalformed)
	case len(sig) != hs256SigLen:
		return fmt.Errorf("%w: JWT signature is %d bytes, HS256 gives %d; truncated", ErrMalformed, len(sig), hs256SigLen)
	case errors.Is(libErr, jwt.ErrTokenSignatureInvalid):
		return fmt.Errorf("%w: HS256 signature does not match the secret (forged, altered, or signed with another secret)", ErrBadSignature)
	case errors.Is(libErr, jwt.ErrTokenMalformed):
		return fmt.Errorf("%w: %v", ErrMalformed, libErr)
	}
	return fmt.Errorf("%w: %v", ErrBadSignature, libErr)
}

// jsonObject says why b is not one JSON object, or returns nil.
func jsonObject(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("is not JSON: %v", err)
	}
	if _, ok := v.(map[string]any); !ok {
		return fmt.Errorf("is JSON but not an object")
	}
	return nil
}

// unwrapClaims returns the claim-validation part of a library error, e.g.
// "token is expired", without the library's generic prefix.
func unwrapClaims(err error) string {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, jwt.ErrTokenInvalidClaims.Error()+": "); ok {
		return rest
	}
	return msg
}

// printable shortens an attacker-controlled header value for an error text.
func printable(s string) string {
	const max = 32
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
