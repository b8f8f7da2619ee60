package signing

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testSecret = "s3cret-for-verify-test"

// event has what must survive signing: an id above 2^53, key order,
// whitespace and non-ASCII text.
var event = []byte(`{"state":"hangup", "call_id":9007199254740993,"contact":{"name":"Zoë"},"a":1}`)

// hand builds a compact JWT from a raw header and payload, signed with
// method and key (nil method: empty signature).
func hand(t testing.TB, header, payload string, method jwt.SigningMethod, key any) string {
	t.Helper()
	s := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	if method == nil {
		return s + "."
	}
	sig, err := method.Sign(s, key)
	if err != nil {
		t.Fatal(err)
	}
	return s + "." + b64.EncodeToString(sig)
}

func mustSign(t testing.TB, payload []byte, secret string) string {
	t.Helper()
	tok, err := SignHS256(payload, secret)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestVerifyHS256 feeds VerifyHS256 the frames a forger, a broken proxy or
// a misconfigured sender would produce; each is refused with its own reason.
func TestVerifyHS256(t *testing.T) {
	good := mustSign(t, event, testSecret)
	h, p, s := func() (string, string, string) {
		parts := strings.Split(good, ".")
		return parts[0], parts[1], parts[2]
	}()
	otherPayload := b64.EncodeToString([]byte(strings.Replace(string(event), "hangup", "connected", 1)))
	hs := jwt.SigningMethodHS256
	key := []byte(testSecret)

	for _, tc := range []struct {
		name   string
		frame  string
		secret string
		want   error  // nil: accepted
		text   string // the reason must say this
	}{
		{name: "valid", frame: good},
		{name: "valid with exp in the past (time not checked)",
			frame: hand(t, `{"alg":"HS256","typ":"JWT"}`, `{"exp":1000,"call_id":1}`, hs, key)},
		{name: "valid without typ", frame: hand(t, `{"alg":"HS256"}`, string(event), hs, key)},

		{name: "forged payload", frame: h + "." + otherPayload + "." + s,
			want: ErrBadSignature, text: "does not match the secret"},
		{name: "forged signature", frame: h + "." + p + "." + b64.EncodeToString(make([]byte, 32)),
			want: ErrBadSignature, text: "does not match the secret"},
		{name: "re-signed with a wrong secret", frame: mustSign(t, event, "not-the-secret"),
			want: ErrBadSignature, text: "signed with another secret"},
		{name: "verified with a wrong secret", frame: good, secret: testSecret + "x",
			want: ErrBadSignature, text: "does not match the secret"},
		{name: "wrong secret, space before it", frame: " " + mustSign(t, event, "not-the-secret"),
			want: ErrBadSignature, text: "does not match the secret"},
		{name: "wrong secret, whitespace around it", frame: "\t" + mustSign(t, event, "not-the-secret") + "\r\n",
			want: ErrBadSignature, text: "does not match the secret"},
		{name: "alg none, space before it", frame: " " + hand(t, `{"alg":"none"}`, string(event), nil, nil),
			want: ErrAlgorithm, text: `alg "none"`},

		{name: "truncated in the payload", frame: good[:len(h)+1+len(p)/2],
			want: ErrMalformed, text: "2 segment(s), want 3"},
		{name: "truncated signature", frame: good[:len(good)-3],
			want: ErrMalformed, text: "signature is 30 bytes, HS256 gives 32; truncated"},
		{name: "signature dropped", frame: h + "." + p + ".",
			want: ErrMalformed, text: "signature is missing"},
		{name: "extra segment", frame: good + ".x",
			want: ErrMalformed, text: "4 segments, want 3"},
		{name: "empty frame", frame: "",
			want: ErrMalformed, text: "1 segment(s)"},
		{name: "plain JSON event", frame: string(event),
			want: ErrMalformed, text: "not a compact JWT"},

		{name: "alg none", frame: hand(t, `{"alg":"none","typ":"JWT"}`, string(event), nil, nil),
			want: ErrAlgorithm, text: `alg "none"; only HS256`},
		{name: "alg none with a valid HS256 signature", frame: hand(t, `{"alg":"none"}`, string(event), nil, nil) + s,
			want: ErrAlgorithm, text: `alg "none"`},
		{name: "alg None", frame: hand(t, `{"alg":"None"}`, string(event), nil, nil),
			want: ErrAlgorithm, text: `alg "None"`},
		{name: "HS512 with the right secret", frame: hand(t, `{"alg":"HS512","typ":"JWT"}`, string(event), jwt.SigningMethodHS512, key),
			want: ErrAlgorithm, text: `alg "HS512"`},
		{name: "HS384 with the right secret", frame: hand(t, `{"alg":"HS384"}`, string(event), jwt.SigningMethodHS384, key),
			want: ErrAlgorithm, text: `alg "HS384"`},
		{name: "RS256", frame: hand(t, `{"alg":"RS256"}`, string(event), hs, key),
			want: ErrAlgorithm, text: `alg "RS256"`},
		{name: "ES256", frame: hand(t, `{"alg":"ES256"}`, string(event), hs, key),
			want: ErrAlgorithm, text: `alg "ES256"`},
		{name: "lower-case hs256", frame: hand(t, `{"alg":"hs256"}`, string(event), hs, key),
			want: ErrAlgorithm, text: `alg "hs256"`},
		{name: "no alg", frame: hand(t, `{"typ":"JWT"}`, string(event), hs, key),
			want: ErrAlgorithm, text: "has no alg"},
		{name: "alg not a string", frame: hand(t, `{"alg":256}`, string(event), hs, key),
			want: ErrAlgorithm, text: "has no alg"},
		{name: "long alg is shortened", frame: hand(t, `{"alg":"`+strings.Repeat("A", 500)+`"}`, "{}", nil, nil),
			want: ErrAlgorithm, text: strings.Repeat("A", 32) + "…"},

		{name: "header not base64url", frame: "e$J." + p + "." + s,
			want: ErrMalformed, text: "header is not base64url"},
		{name: "header not JSON", frame: hand(t, `alg=HS256`, string(event), hs, key),
			want: ErrMalformed, text: "header is not JSON"},
		{name: "header a JSON array", frame: hand(t, `["HS256"]`, string(event), hs, key),
			want: ErrMalformed, text: "header is JSON but not an object"},
		{name: "payload not base64url", frame: h + ".e$J." + s,
			want: ErrMalformed, text: "payload is not base64url"},
		{name: "payload not JSON", frame: mustSign(t, []byte(`state=hangup`), testSecret),
			want: ErrMalformed, text: "payload is not JSON"},
		{name: "payload a JSON array", frame: mustSign(t, []byte(`[1,2]`), testSecret),
			want: ErrMalformed, text: "payload is JSON but not an object"},
		{name: "payload null", frame: hand(t, `{"alg":"HS256"}`, `null`, nil, nil) + "AAAA",
			want: ErrMalformed, text: "payload is JSON but not an object"},
		{name: "signature not base64url", frame: h + "." + p + ".a+b/",
			want: ErrMalformed, text: "signature is not base64url"},

		{name: "empty secret", frame: good, secret: "-", want: ErrNoSecret, text: "empty secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secret := tc.secret
			switch secret {
			case "":
				secret = testSecret
			case "-":
				secret = ""
			}
			err := VerifyHS256([]byte(tc.frame), secret)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("VerifyHS256 = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("VerifyHS256 = %v, want an error wrapping %v", err, tc.want)
			}
			checkReason(t, err, tc.want)
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("reason %q does not say %q", err, tc.text)
			}
			if secret != "" && strings.Contains(err.Error(), secret) {
				t.Errorf("reason %q contains the secret", err)
			}
			t.Logf("reason: %v", err)
		})
	}
}

// checkReason fails unless err wraps want and no other reason.
func checkReason(t testing.TB, err, want error) {
	t.Helper()
	for _, r := range []error{ErrNoSecret, ErrMalformed, ErrAlgorithm, ErrBadSignature, ErrTimestamp} {
		if r != want && errors.Is(err, r) {
			t.Errorf("%q wraps %v as well as %v", err, r, want)
		}
	}
}

// TestSignThenVerify: what SignHS256 produces verifies, and its payload
// segment decodes to exactly the event bytes (not a re-encoded object).
func TestSignThenVerify(t *testing.T) {
	sample, err := os.ReadFile("testdata/call.compact.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, payload := range [][]byte{event, sample, []byte(`{}`), []byte("{\n  \"pretty\": true\n}\n")} {
		tok := mustSign(t, payload, testSecret)
		if err := VerifyHS256([]byte(tok), testSecret); err != nil {
			t.Errorf("VerifyHS256(SignHS256(%.40q)) = %v", payload, err)
		}
		seg := strings.Split(tok, ".")[1]
		got, err := b64.DecodeString(seg)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(payload) {
			t.Errorf("payload segment decodes to %q, want the event bytes %q", got, payload)
		}
	}
	shipped, err := os.ReadFile("testdata/call.hs256.jwt")
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyHS256([]byte(strings.TrimSpace(string(shipped))), "test_secret"); err != nil {
		t.Errorf("shipped sample JWT: %v", err)
	}
	// Whitespace around a JWT frame (the file ends with a newline) is
	// not part of it: it verifies, and its payload reads, all the same.
	for _, frame := range [][]byte{shipped, append([]byte(" \t\r\n"), shipped...)} {
		if err := VerifyHS256(frame, "test_secret"); err != nil {
			t.Errorf("sample JWT with whitespace around it %.12q…: %v", frame, err)
		}
		if _, err := Payload(frame); err != nil {
			t.Errorf("Payload of the sample JWT with whitespace around it: %v", err)
		}
	}
}

// TestVerifierTime: time claims are checked only when asked, and then only
// those present.
func TestVerifierTime(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	claims := func(s string) []byte {
		return []byte(hand(t, `{"alg":"HS256"}`, s, jwt.SigningMethodHS256, []byte(testSecret)))
	}
	v := Verifier{CheckTime: true, Leeway: 5 * time.Second, Now: func() time.Time { return now }}
	for _, tc := range []struct {
		name, payload string
		want          error
		text          string
	}{
		{"no time claims", `{"call_id":1}`, nil, ""},
		{"exp in the future", `{"exp":1800000060}`, nil, ""},
		{"exp just past, within leeway", `{"exp":1799999998}`, nil, ""},
		{"exp past", `{"exp":1799999000}`, ErrTimestamp, "expired"},
		{"nbf in the future", `{"nbf":1800000600}`, ErrTimestamp, "not valid yet"},
		{"iat in the future", `{"iat":1800000600}`, ErrTimestamp, "before issued"},
		{"exp not a number", `{"exp":"tomorrow"}`, ErrTimestamp, "exp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Verify(claims(tc.payload), testSecret)
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
			t.Logf("reason: %v", err)
			// the zero Verifier ignores time claims
			if err := VerifyHS256(claims(tc.payload), testSecret); err != nil {
				t.Errorf("VerifyHS256 = %v, want nil (time not checked by default)", err)
			}
		})
	}
	if err := v.Verify(claims(`{"exp":1799999000}`), "wrong"); !errors.Is(err, ErrBadSignature) {
		t.Errorf("expired and forged: %v, want the signature reason first", err)
	}
}

// FuzzVerifyHS256: no input panics, and every refusal carries exactly one
// reason.
func FuzzVerifyHS256(f *testing.F) {
	good := mustSign(f, event, testSecret)
	f.Add([]byte(good), testSecret)
	f.Add([]byte(good), "")
	f.Add([]byte(hand(f, `{"alg":"none"}`, `{}`, nil, nil)), testSecret)
	f.Add([]byte(hand(f, `{"alg":"HS512"}`, `{}`, jwt.SigningMethodHS512, []byte(testSecret))), testSecret)
	f.Add([]byte("a.b.c"), "k")
	f.Add([]byte(".."), "k")
	f.Add(event, "k")
	f.Fuzz(func(t *testing.T, frame []byte, secret string) {
		err := VerifyHS256(frame, secret)
		if err == nil {
			return
		}
		n := 0
		for _, r := range []error{ErrNoSecret, ErrMalformed, ErrAlgorithm, ErrBadSignature} {
			if errors.Is(err, r) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("VerifyHS256 = %v: wraps %d reasons, want 1", err, n)
		}
	})
}

// BenchmarkVerifyHS256 is the cost of verifying the 2 KB sample call event.
func BenchmarkVerifyHS256(b *testing.B) {
	payload, err := os.ReadFile("testdata/call.compact.json")
	if err != nil {
		b.Fatal(err)
	}
	frame := []byte(mustSign(b, payload, testSecret))
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyHS256(frame, testSecret); err != nil {
			b.Fatal(err)
		}
	}
}
