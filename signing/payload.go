package signing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Payload decodes the payload segment of a compact JWT without verifying
// it (for routing and logs; VerifyHS256 is the check). The header must
// name an algorithm. Whitespace around the JWT is ignored (TrimSpace).
// Errors wrap ErrMalformed.
func Payload(jwt []byte) ([]byte, error) {
	jwt = TrimSpace(jwt)
	parts := bytes.SplitN(jwt, []byte("."), 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: not a compact JWT", ErrMalformed)
	}
	header, err := b64.AppendDecode(nil, parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: JWT header is not base64url: %v", ErrMalformed, err)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(header, &h) != nil || h.Alg == "" {
		return nil, fmt.Errorf("%w: JWT header has no alg", ErrMalformed)
	}
	payload, err := b64.AppendDecode(nil, parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: JWT payload is not base64url: %v", ErrMalformed, err)
	}
	return payload, nil
}

// TrimSpace returns frame without the JSON whitespace (space, tab, CR,
// LF) around it: a JWT frame with a newline after it is still that JWT,
// as a JSON object with one is still that object. The frame itself is
// forwarded as it came; only reading it ignores the whitespace.
func TrimSpace(frame []byte) []byte { return bytes.Trim(frame, " \t\r\n") }

// Reason is the text of an error from this package without its sentinel's
// prefix (e.g. "JWT header has no alg"), for messages that add their own.
func Reason(err error) string {
	msg := err.Error()
	if errors.Is(err, ErrMalformed) {
		msg = msg[len(ErrMalformed.Error())+2:]
	}
	return msg
}
