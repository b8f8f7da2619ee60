// Package signing holds the pure functions that sign and verify webhook
// deliveries: Dialpad's HS256 event JWTs and Standard Webhooks HMAC
// signatures. It does no I/O.
package signing

import (
	"encoding/base64"

	"github.com/golang-jwt/jwt/v5"
)

// hs256Header is the JOSE header Dialpad is believed to use for event JWTs
// (../shared/dialpad/API.md §6): HS256, typ JWT, no kid.
const hs256Header = `{"alg":"HS256","typ":"JWT"}`

var b64 = base64.RawURLEncoding

// SignHS256 returns a compact HS256 JWT whose payload segment is exactly the
// base64url encoding of payload (the event bytes are not re-encoded), signed
// with the UTF-8 bytes of secret.
func SignHS256(payload []byte, secret string) (string, error) {
	if secret == "" {
		return "", ErrNoSecret
	}
	signingString := b64.EncodeToString([]byte(hs256Header)) + "." + b64.EncodeToString(payload)
	sig, err := jwt.SigningMethodHS256.Sign(signingString, []byte(secret))
	if err != nil {
		return "", err
	}
	return signingString + "." + b64.EncodeToString(sig), nil
}
