package agent

import (
	"bytes"
	"context"
	"errors"
	"hash/maphash"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
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

// TestJWTNeverRememberedByItsBytes: whether a frame is checked for
// duplicates is decided once, so a JWT checked is always remembered by its
// claims, the identity its copies on other connections are looked up by,
// even while checks are armed at that moment (another source's or a
// rotation's connection being dialled). Asked twice, the check saw checks
// off, then on, now and then, and remembered the JWT by its bytes: its
// copy, minted with another iat, was forwarded too.
func TestJWTNeverRememberedByItsBytes(t *testing.T) {
	a, err := New(Config{
		Sources:   []Source{{Name: "websocket 1", Fetch: func(context.Context) (string, error) { return "", errors.New("not run") }}},
		Queue:     spool.NewMemory(spool.MemoryConfig{}),
		Forwarder: newForwarder(t, forward.Config{URL: "http://127.0.0.1:1/"}), // never called: the agent does not run
	})
	if err != nil {
		t.Fatal(err)
	}
	// Checks are armed once during each frame's accept, a little later
	// each time, so that for some frames it falls between the decision to
	// check and the check; they are off again at once (armedUntil is reset
	// before each frame).
	const frames = 3000
	d := a.dedupe
	d.armFor = time.Hour
	framed := make(chan time.Duration)
	armed := make(chan struct{})
	go func() {
		defer close(armed)
		for after := range framed {
			for start := time.Now(); time.Since(start) < after; { // spins: the moment is the point
			}
			d.arm(time.Now())
		}
	}()
	defer func() { close(framed); <-armed }()

	c := &conn{id: connIDs.Add(1), name: "websocket 1 #1"}
	src := &Source{Name: "websocket 1"}
	gen := dialpadtest.NewGenerator(9)
	for i := range frames {
		jwt := []byte(mustSign(t, string(gen.SMS()), "k"))
		d.mu.Lock()
		d.armedUntil = time.Time{}
		d.mu.Unlock()
		framed <- time.Duration(i%300) * 100 * time.Nanosecond
		a.accept(c, src, jwt)
		d.mu.Lock()
		_, byBytes := d.seen[digest{maphash.Bytes(d.seeds[0], jwt), maphash.Bytes(d.seeds[1], jwt)}]
		d.mu.Unlock()
		if byBytes {
			t.Fatalf("frame %d: a JWT was remembered by its bytes, where its copies are looked up by their claims", i)
		}
	}
	if n := a.cfg.Routes[0].Queue.Len(); n != frames {
		t.Errorf("%d events queued, want %d (each once)", n, frames)
	}
}
