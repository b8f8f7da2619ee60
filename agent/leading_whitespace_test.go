package agent

import (
	"fmt"
	"slices"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
)

// JSON frames that start with RFC 8259 whitespace or a UTF-8 byte order
// mark are events: the handler receives each one byte for byte as Dialpad
// sent it, as JSON, keyed by its call id.
func TestLeadingWhitespaceFramesForwardedUnchanged(t *testing.T) {
	frames := []string{
		" " + `{"call_id":101,"state":"ringing"}`,
		"\t" + `{"call_id":102,"state":"ringing"}`,
		"\r\n" + `{"call_id":103,"state":"ringing"}` + "\r\n",
		"\n  " + `{"call_id":104,"state":"ringing"}`,
		"\xef\xbb\xbf" + `{"call_id":105,"state":"ringing"}`,
		"\xef\xbb\xbf\n" + `{"call_id":9007199254740993,"state":"ringing"}`,
	}
	ws := framesServer(t, frames)
	recv := newReceiver(t, nil)
	r := startAgent(t, testConfig(), recv.url, ws.source())

	waitUntil(t, testWait, func() bool { st := r.a.Stats(); return st.Delivered+st.Invalid == int64(len(frames)) },
		func() string { return fmt.Sprintf("stats %+v, want %d frames delivered", r.a.Stats(), len(frames)) })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if skipped := r.logs.find(t, "WARN", "frame skipped"); len(skipped) != 0 {
		t.Errorf("%d frames skipped, want none: %v", len(skipped), skipped)
	}
	got := recv.deliveries()
	received := bodies(got)
	for _, f := range frames {
		if received[f] != 1 {
			t.Errorf("handler received %q %d times, want once as sent", f, received[f])
		}
	}
	if len(got) != len(frames) {
		t.Errorf("handler received %d POSTs, want %d: %q", len(got), len(frames), slices.Collect(mapKeys(received)))
	}
	for _, d := range got {
		if ct := d.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type of %q = %q, want application/json", d.body, ct)
		}
	}
	wantArrivedKeys(t, r, "call:101", "call:102", "call:103", "call:104", "call:105", "call:9007199254740993")
}

// JWT frames with whitespace around them (a newline after one, say) are
// events too, as JSON objects with it are: each is verified, forwarded
// byte for byte as it came, as a JWT, keyed by the call id in its payload.
// They were skipped as "neither a JSON object nor a compact JWT", and lost.
func TestWhitespaceAroundJWTFramesForwardedUnchanged(t *testing.T) {
	const secret = "s3cret-for-test"
	var frames []string
	for i, around := range [][2]string{{"", "\n"}, {" ", ""}, {"\r\n", "\r\n"}, {"\t", " \n"}} {
		jwt, err := signing.SignHS256([]byte(fmt.Sprintf(`{"call_id":%d,"state":"ringing"}`, 201+i)), secret)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, around[0]+jwt+around[1])
	}
	ws := framesServer(t, frames)
	recv := newReceiver(t, nil)
	cfg := testConfig()
	cfg.VerifySecret = secret
	r := startAgent(t, cfg, recv.url, ws.source())

	waitUntil(t, testWait, func() bool { st := r.a.Stats(); return st.Delivered+st.Invalid+st.Rejected == int64(len(frames)) },
		func() string { return fmt.Sprintf("stats %+v, want %d frames delivered", r.a.Stats(), len(frames)) })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := r.a.Stats(); st.Invalid+st.Rejected != 0 {
		t.Errorf("%d frames skipped and %d refused, want none", st.Invalid, st.Rejected)
	}
	got := recv.deliveries()
	received := bodies(got)
	for _, f := range frames {
		if received[f] != 1 {
			t.Errorf("handler received %q %d times, want once as sent", f, received[f])
		}
	}
	for _, d := range got {
		if ct := d.header.Get("Content-Type"); ct != "application/jwt" {
			t.Errorf("Content-Type of %q = %q, want application/jwt", d.body, ct)
		}
	}
	wantArrivedKeys(t, r, "call:201", "call:202", "call:203", "call:204")
}
