package agent

import (
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
)

// TestEventIDPinned: an event's id is the same in every version, so that
// two agents of different versions (an upgrade, one at a time) give the
// copies of an event one id: these values must never change. A JWT's id
// leaves out its time claims, which Dialpad may mint per connection, and
// whitespace around the frame. (The JSON one is Python's
// uuid.uuid5(UUID("2b121ca9-ae14-44e5-ad0b-f3b1f0fdfc48"), event) too.)
func TestEventIDPinned(t *testing.T) {
	const event = `{"call_id":5781234567890123456,"state":"hangup","date_started":1700000000000}`
	if got, want := EventID([]byte(event), false), "10d9c601-9f10-5eaf-96a4-5f96312928ca"; got != want {
		t.Errorf("EventID(JSON) = %s, want %s", got, want)
	}
	plain, err := signing.SignHS256([]byte(event), "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	minted, err := signing.SignHS256([]byte(`{"iat":1700000000.5,"exp":1700003600,`+event[1:]), "other")
	if err != nil {
		t.Fatal(err)
	}
	want := "62a24d32-4f77-5aec-b687-ae7d0e40fc0a"
	for _, jwt := range []string{plain, minted, " " + minted + "\n"} {
		if got := EventID([]byte(jwt), true); got != want {
			t.Errorf("EventID(%.40s…) = %s, want %s", jwt, got, want)
		}
	}
}
