package signing

import (
	"os"
	"strings"
	"testing"
)

// TestSignHS256MatchesSample signs the compact sample call event with the
// sample secret and expects the JWT shipped in testdata byte for byte.
func TestSignHS256MatchesSample(t *testing.T) {
	want, err := os.ReadFile("testdata/call.hs256.jwt")
	if err != nil {
		t.Fatal(err)
	}
	payload, err := os.ReadFile("testdata/call.compact.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := SignHS256(payload, "test_secret")
	if err != nil {
		t.Fatal(err)
	}
	if got != strings.TrimSpace(string(want)) {
		t.Fatalf("SignHS256 = %q\nwant %q", got, want)
	}
}

func TestSignHS256EmptySecret(t *testing.T) {
	if _, err := SignHS256([]byte(`{}`), ""); err == nil {
		t.Fatal("SignHS256 with empty secret: want error")
	}
}
