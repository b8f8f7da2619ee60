package dialpad

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
)

// URLExpiry returns the expiry of a websocket_url: the exp claim of the JWT
// that forms the URL's last path segment, read WITHOUT verifying the token
// (Dialpad signs it with its own key). A fractional exp keeps millisecond
// precision. Errors never contain the URL or the token.
func URLExpiry(websocketURL string) (time.Time, error) {
	exp, _, err := URLTimes(websocketURL)
	return exp, err
}

// URLTimes returns the exp and iat claims of a websocket_url's token, read
// as URLExpiry reads exp. iat is zero when the token has none (or an
// unreadable one); Dialpad's tokens carry it, exp - iat being the token's
// lifetime whatever the local clock says.
func URLTimes(websocketURL string) (exp, iat time.Time, err error) {
	token, err := urlToken(websocketURL)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, time.Time{}, fmt.Errorf("dialpad: websocket url token: want 3 dot-separated segments, got %d", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, time.Time{}, errors.New("dialpad: websocket url token: payload is not base64url")
	}
	var claims map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return time.Time{}, time.Time{}, errors.New("dialpad: websocket url token: payload is not a JSON object")
	}
	raw, ok := claims["exp"]
	if !ok || string(raw) == "null" {
		return time.Time{}, time.Time{}, errors.New("dialpad: websocket url token: no exp claim")
	}
	if exp, err = numericDate(raw); err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("dialpad: websocket url token: exp claim %w", err)
	}
	if raw, ok := claims["iat"]; ok {
		iat, _ = numericDate(raw) // optional: zero when unreadable
	}
	return exp, iat, nil
}

// numericDate reads a JWT NumericDate (seconds since the epoch, a
// fraction kept to the millisecond).
func numericDate(raw json.RawMessage) (time.Time, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return time.Time{}, errors.New("is not a number")
	}
	secs, err := n.Float64()
	if err != nil || math.IsNaN(secs) || math.IsInf(secs, 0) || secs <= 0 || secs > 1e11 {
		return time.Time{}, errors.New("is out of range")
	}
	whole := math.Floor(secs)
	ms := math.Round((secs - whole) * 1000)
	return time.Unix(int64(whole), int64(ms)*int64(time.Millisecond)), nil
}

// CheckURL reports what keeps websocketURL, as the API answered it, from
// being dialled: none given, not a URL, a scheme other than ws or wss, user
// info, or no host. Its errors never contain the URL or the token.
func CheckURL(websocketURL string) error {
	if websocketURL == "" {
		return errors.New("dialpad: the API answered no websocket_url")
	}
	u, err := url.Parse(websocketURL)
	switch {
	case err != nil:
		return errors.New("dialpad: websocket_url is not a valid URL")
	case u.Scheme != "ws" && u.Scheme != "wss":
		if len(u.Scheme) > 10 { // not a scheme anyone meant: do not echo it
			return errors.New("dialpad: websocket_url does not start with ws:// or wss://")
		}
		return fmt.Errorf("dialpad: websocket_url scheme %q: want ws or wss", u.Scheme)
	case u.User != nil:
		return errors.New("dialpad: websocket_url has user info, which a websocket URL cannot carry")
	case u.Host == "":
		return errors.New("dialpad: websocket_url has no host")
	}
	return nil
}

// RedactURL returns websocketURL for logs and error messages: its scheme,
// host and leading short path segments ("/events/"), then "<token>" for
// the rest, which holds the token wherever it is (last, or followed by a
// slash or another segment); credentials, query and fragment are dropped.
// An unparseable URL becomes "<invalid url>".
func RedactURL(websocketURL string) string {
	if websocketURL == "" {
		return ""
	}
	u, err := url.Parse(websocketURL)
	if err != nil || u.Host == "" {
		return "<invalid url>"
	}
	segs := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	dir := "/"
	for _, seg := range segs[:len(segs)-1] {
		if len(seg) > maxShownSegment {
			break
		}
		dir += seg + "/"
	}
	return u.Scheme + "://" + u.Host + dir + "<token>"
}

// maxShownSegment is the longest path segment before the token that
// RedactURL shows: a word such as "events", never a token.
const maxShownSegment = 16

// urlToken returns the last path segment of a websocket URL.
func urlToken(websocketURL string) (string, error) {
	u, err := url.Parse(websocketURL)
	if err != nil {
		return "", errors.New("dialpad: websocket url is not a valid URL")
	}
	p := u.EscapedPath()
	token := p[strings.LastIndexByte(p, '/')+1:]
	if token == "" {
		return "", errors.New("dialpad: websocket url has no token segment")
	}
	return token, nil
}

// CheckWebsocketURL is CheckURL for a websocket_url this client's API
// answered, which also refuses ws:// (unencrypted) from an https API: the
// token in it would cross the network in the clear, and Dialpad's URLs
// are wss://. An API on http (the emulator, a test) may answer ws://.
func (c *Client) CheckWebsocketURL(websocketURL string) error {
	if err := CheckURL(websocketURL); err != nil {
		return err
	}
	if strings.HasPrefix(c.base, "https://") && strings.HasPrefix(strings.ToLower(websocketURL), "ws://") {
		return errors.New("dialpad: websocket_url is ws:// (unencrypted) from an https API: not dialled, as its token would cross the network in the clear; Dialpad's are wss://")
	}
	return nil
}
