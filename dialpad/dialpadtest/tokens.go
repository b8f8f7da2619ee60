package dialpadtest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Websocket URL tokens are JWTs like Dialpad's (API.md §5): header typ
// vnd.dialpad.websocket+jwt, claims sub, exp, iss, iat. They are signed
// HS256 with a per-server random key (Dialpad uses ES256; clients treat the
// token as opaque). iat and exp are NumericDates with millisecond fractions
// so that tests can use lifetimes below a second; jti makes every issued
// token distinct.

var b64 = base64.RawURLEncoding

var tokenHeader = b64.EncodeToString([]byte(`{"alg":"HS256","typ":"vnd.dialpad.websocket+jwt"}`))

// tokenClaims is the decoded claim set of a websocket URL token.
type tokenClaims struct {
	Sub string  `json:"sub"`
	Exp float64 `json:"exp"`
	Iss string  `json:"iss"`
	Iat float64 `json:"iat"`
	Jti string  `json:"jti"`
}

// scope is what a token grants: every subscription of websocket
// websocketID (subID 0), or only subscription subID of type typ.
type scope struct {
	websocketID int64
	typ         string
	subID       int64
}

func (sc scope) subject() string {
	if sc.subID == 0 {
		return fmt.Sprintf("endpoint:%d:*", sc.websocketID)
	}
	return fmt.Sprintf("endpoint:%d:%s:%d", sc.websocketID, sc.typ, sc.subID)
}

// parseSubject is the inverse of scope.subject.
func parseSubject(sub string) (scope, error) {
	parts := strings.Split(sub, ":")
	if len(parts) < 3 || parts[0] != "endpoint" {
		return scope{}, errors.New("malformed subject")
	}
	wsID, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return scope{}, errors.New("malformed subject")
	}
	switch {
	case len(parts) == 3 && parts[2] == "*":
		return scope{websocketID: wsID}, nil
	case len(parts) == 4 && validType(parts[2]):
		subID, err := strconv.ParseInt(parts[3], 10, 64)
		if err != nil {
			return scope{}, errors.New("malformed subject")
		}
		return scope{websocketID: wsID, typ: parts[2], subID: subID}, nil
	}
	return scope{}, errors.New("malformed subject")
}

// websocketURL issues a token for sc and returns the ws:// URL carrying it.
func (s *Server) websocketURL(websocketID int64, typ string, subID int64) string {
	sc := scope{websocketID: websocketID, typ: typ, subID: subID}
	return "ws" + strings.TrimPrefix(s.url, "http") + "/events/" + s.issueToken(sc, time.Now().Add(s.cfg.ClockOffset))
}

// issueToken signs a token for sc valid from now for Config.TokenTTL.
func (s *Server) issueToken(sc scope, now time.Time) string {
	iat := now.UnixMilli()
	exp := now.Add(s.cfg.TokenTTL).UnixMilli()
	claims := fmt.Sprintf(`{"sub":%q,"exp":%s,"iss":%q,"iat":%s,"jti":%q}`,
		sc.subject(), millisToSeconds(exp), s.url, millisToSeconds(iat), randomHex(8))
	signing := tokenHeader + "." + b64.EncodeToString([]byte(claims))
	sig, err := jwt.SigningMethodHS256.Sign(signing, s.tokenKey)
	if err != nil {
		panic("dialpadtest: sign token: " + err.Error()) // cannot happen with a []byte key
	}
	return signing + "." + b64.EncodeToString(sig)
}

// verifyToken checks the signature and expiry of token and returns its
// claims and scope. Errors never contain the token.
func (s *Server) verifyToken(token string, now time.Time) (tokenClaims, scope, error) {
	var c tokenClaims
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] != tokenHeader {
		return c, scope{}, errors.New("malformed token")
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return c, scope{}, errors.New("malformed token")
	}
	if err := jwt.SigningMethodHS256.Verify(parts[0]+"."+parts[1], sig, s.tokenKey); err != nil {
		return c, scope{}, errors.New("bad token signature")
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return c, scope{}, errors.New("malformed token")
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, scope{}, errors.New("malformed token claims")
	}
	if !now.Before(secondsToTime(c.Exp)) {
		return c, scope{}, errors.New("token expired")
	}
	sc, err := parseSubject(c.Sub)
	return c, sc, err
}

// millisToSeconds formats Unix milliseconds as fractional NumericDate seconds.
func millisToSeconds(ms int64) string {
	return strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)
}

// secondsToTime converts fractional NumericDate seconds to a time,
// rounded to the millisecond.
func secondsToTime(sec float64) time.Time {
	return time.UnixMilli(int64(sec*1000 + 0.5))
}
