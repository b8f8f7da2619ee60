package agent

import (
	"bytes"
	"testing"
	"time"
)

// TestClaimsIdentity: the same event minted as a JWT on two connections
// with different registered time claims is one event; any other change to
// the claims makes another event.
func TestClaimsIdentity(t *testing.T) {
	sign := func(payload string) []byte { return []byte(mustSign(t, payload, "k")) }
	base := sign(`{"call_id":9007199254740993,"state":"ringing","iat":1700000000,"exp":1700003600}`)
	for _, tc := range []struct {
		name string
		jwt  []byte
		same bool
	}{
		{"other iat, exp and nbf", sign(`{"call_id":9007199254740993,"state":"ringing","iat":1700000005,"exp":1700003605,"nbf":1}`), true},
		{"other key order", sign(`{"exp":1,"state":"ringing","call_id":9007199254740993}`), true},
		{"other state", sign(`{"call_id":9007199254740993,"state":"connected","iat":1700000000,"exp":1700003600}`), false},
		{"id differing beyond 2^53", sign(`{"call_id":9007199254740992,"state":"ringing","iat":1700000000,"exp":1700003600}`), false},
		{"other jti", sign(`{"call_id":9007199254740993,"state":"ringing","jti":"x"}`), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := bytes.Equal(claimsIdentity(base), claimsIdentity(tc.jwt)); got != tc.same {
				t.Fatalf("same identity = %v, want %v", got, tc.same)
			}
		})
	}
	if got := claimsIdentity([]byte("a.b.c")); !bytes.Equal(got, []byte("a.b.c")) {
		t.Fatalf("undecodable JWT identity = %q, want the frame itself", got)
	}
}

// TestDedupeJWTAcrossConnections: with two connections open, the second
// copy of a JWT event minted with another iat is dropped.
func TestDedupeJWTAcrossConnections(t *testing.T) {
	d := newDedupe(time.Minute, 100)
	now := time.Now()
	a := claimsIdentity([]byte(mustSign(t, `{"id":1,"iat":1}`, "k")))
	b := claimsIdentity([]byte(mustSign(t, `{"id":1,"iat":2}`, "k")))
	if d.duplicate(a, 1, now, true) {
		t.Fatal("first copy reported as duplicate")
	}
	if !d.duplicate(b, 2, now, true) {
		t.Fatal("second copy with another iat not reported as duplicate")
	}
}
