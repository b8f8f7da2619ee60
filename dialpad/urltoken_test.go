package dialpad_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

// sampleWebsocket loads payloads/rest_websocket_response.json through the
// same JSON decoding the client uses.
func sampleWebsocket(t *testing.T) dialpad.Websocket {
	t.Helper()
	b, err := os.ReadFile("../../shared/dialpad/payloads/rest_websocket_response.json")
	if err != nil {
		t.Skipf("sample payload not available: %v", err)
	}
	var ws dialpad.Websocket
	if err := json.Unmarshal(b, &ws); err != nil {
		t.Fatal(err)
	}
	return ws
}

func TestSampleWebsocketResponse(t *testing.T) {
	ws := sampleWebsocket(t)
	if ws.ID != 1000 || ws.Secret() != "test_secret" || ws.Signature.Algo != "HS256" || ws.Signature.Type != "jwt" {
		t.Errorf("decoded %+v", ws)
	}
	exp, err := dialpad.URLExpiry(ws.URL)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(time.Unix(1357002000, 0)) {
		t.Errorf("URLExpiry = %v, want unix 1357002000", exp)
	}
	if got, want := dialpad.RedactURL(ws.URL), "wss://platform-websockets-5bwy6zprxa-uc.a.run.app/events/<token>"; got != want {
		t.Errorf("RedactURL = %q, want %q", got, want)
	}
}

// tokenURL builds a websocket URL whose token has the given payload.
func tokenURL(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return "wss://h.example/events/" + enc([]byte(`{"alg":"ES256"}`)) + "." + enc([]byte(payload)) + ".c2ln"
}

func TestURLExpiry(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		want    time.Time
		wantErr string
	}{
		{"integer", tokenURL(`{"exp":1700000000}`), time.Unix(1700000000, 0), ""},
		{"fractional", tokenURL(`{"exp":1700000000.123,"iat":1}`), time.UnixMilli(1700000000123), ""},
		{"fractional half", tokenURL(`{"exp":1357002000.5}`), time.UnixMilli(1357002000500), ""},
		{"exponent", tokenURL(`{"exp":1.7e9}`), time.Unix(1700000000, 0), ""},
		{"query ignored", tokenURL(`{"exp":1700000000}`) + "?x=1", time.Unix(1700000000, 0), ""},
		{"no exp", tokenURL(`{"iat":1}`), time.Time{}, "no exp claim"},
		{"null exp", tokenURL(`{"exp":null}`), time.Time{}, "no exp claim"},
		{"string exp", tokenURL(`{"exp":"soon"}`), time.Time{}, "not a number"},
		{"negative exp", tokenURL(`{"exp":-5}`), time.Time{}, "out of range"},
		{"payload not json", tokenURL(`not json`), time.Time{}, "not a JSON object"},
		{"payload array", tokenURL(`[1]`), time.Time{}, "not a JSON object"},
		{"two segments", "wss://h.example/events/aGVsbG8.d29ybGQ", time.Time{}, "3 dot-separated"},
		{"bad base64", "wss://h.example/events/a.!!!.c", time.Time{}, "not base64url"},
		{"no token", "wss://h.example/events/", time.Time{}, "no token"},
		{"empty", "", time.Time{}, "no token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dialpad.URLExpiry(tt.url)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				if seg := tt.url[strings.LastIndex(tt.url, "/")+1:]; seg != "" && strings.Contains(err.Error(), seg) {
					t.Errorf("error %q contains the token", err)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("URLExpiry = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	const longToken = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2lnbmF0dXJl"
	tests := []struct{ in, want string }{
		{"ws://127.0.0.1:4000/events/a.b.c", "ws://127.0.0.1:4000/events/<token>"},
		{"wss://u:p@h/x/events/a.b.c?k=v#f", "wss://h/x/events/<token>"},
		{"wss://h/a.b.c", "wss://h/<token>"},
		{"wss://h", "wss://h/<token>"},
		{"", ""},
		{"not a url", "<invalid url>"},
		{"wss://h/events/a.b.c\x7f", "<invalid url>"},
		// The token followed by a slash or another segment is hidden too,
		// and so is a long segment before it.
		{"wss://h/events/" + longToken + "/", "wss://h/events/<token>"},
		{"wss://h/events/" + longToken + "/stream", "wss://h/events/<token>"},
		{"wss://h/" + longToken + "/events/x", "wss://h/<token>"},
	}
	for _, tt := range tests {
		if got := dialpad.RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestURLTimes: iat comes with exp when the token has one (Dialpad's do:
// exp - iat is the lifetime whatever the local clock), zero otherwise.
func TestURLTimes(t *testing.T) {
	for _, tc := range []struct {
		payload  string
		exp, iat time.Time
	}{
		{`{"exp":1357002000,"iat":1356998400}`, time.Unix(1357002000, 0), time.Unix(1356998400, 0)},
		{`{"exp":1357002000.5,"iat":1356998400.25}`, time.Unix(1357002000, 5e8), time.Unix(1356998400, 25e7)},
		{`{"exp":1357002000}`, time.Unix(1357002000, 0), time.Time{}},
		{`{"exp":1357002000,"iat":"yesterday"}`, time.Unix(1357002000, 0), time.Time{}},
	} {
		exp, iat, err := dialpad.URLTimes(tokenURL(tc.payload))
		if err != nil || !exp.Equal(tc.exp) || !iat.Equal(tc.iat) {
			t.Errorf("URLTimes(%s) = %v, %v, %v; want %v, %v", tc.payload, exp, iat, err, tc.exp, tc.iat)
		}
	}
}

// TestCheckURL: a websocket_url that cannot be dialled is refused with what
// is wrong with it, never with the URL or its token.
func TestCheckURL(t *testing.T) {
	const token = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3MDAwMDAwMDB9.c2VjcmV0LXNpZw"
	for _, tc := range []struct{ url, want string }{
		{"wss://platform-websockets.dialpad.com/events/" + token, ""},
		{"ws://127.0.0.1:41004/ws/" + token, ""},
		{"", "dialpad: the API answered no websocket_url"},
		{"ws://user:password@127.0.0.1:41004/ws/" + token, "dialpad: websocket_url has user info, which a websocket URL cannot carry"},
		{"https://platform-websockets.dialpad.com/events/" + token, `dialpad: websocket_url scheme "https": want ws or wss`},
		{"/events/" + token, `dialpad: websocket_url scheme "": want ws or wss`},
		{"ws:///events/" + token, "dialpad: websocket_url has no host"},
		{"ws://[::1/events/" + token, "dialpad: websocket_url is not a valid URL"},
		{token + "://host/x", "dialpad: websocket_url does not start with ws:// or wss://"},
	} {
		err := dialpad.CheckURL(tc.url)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("CheckURL(%q) = %q, want %q", tc.url, got, tc.want)
		}
		if strings.Contains(got, "c2VjcmV0") || strings.Contains(got, "password") {
			t.Errorf("CheckURL(%q) shows a secret: %q", tc.url, got)
		}
	}
}
