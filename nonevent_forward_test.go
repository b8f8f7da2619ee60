package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
)

// TestNonEventFramesForwarded: that a signed event comes as the bare
// compact JWT, one event per frame, is inferred (API.md §5, §6). Should
// Dialpad send another form (the JWT in JSON quotes, several events in a
// JSON array), --non-event-frames forward delivers such frames to the
// handler exactly as they came, in arrival order on their one lane,
// where skip (the default) loses them and keep only stores them; events of
// the inferred form are delivered as before.
func TestNonEventFramesForwarded(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, func(int) int { return http.StatusNoContent })
	r := start(t, listenArgs(srv, wsID, h.URL, "--no-spool", "--non-event-frames", "forward", "--log-format", "json")...)
	r.waitConnected(t, srv, 1)

	gen := dialpadtest.NewGenerator(7)
	jwt, err := signing.SignHS256(gen.SMS(), "test_secret")
	if err != nil {
		t.Fatal(err)
	}
	quoted := []byte(`"` + jwt + `"`)
	array := []byte("[" + string(gen.SMS()) + "," + string(gen.SMS()) + "]")
	hello := []byte("connected")
	want := []struct {
		body        []byte
		contentType string
	}{
		{quoted, forward.DefaultContentTypeJSON},
		{array, forward.DefaultContentTypeJSON},
		{hello, forward.ContentTypeRaw},
	}
	for _, w := range want {
		if d := srv.PublishRaw("sms", w.body); d.Frames != 1 {
			t.Fatalf("PublishRaw wrote %d frames", d.Frames)
		}
	}
	ev := gen.SMS()
	srv.Publish("sms", ev)

	got := h.waitRequests(t, len(want)+1, 10*time.Second)
	var others []received
	sawEvent := false
	for _, g := range got {
		if bytes.Equal(g.body, ev) {
			sawEvent = true
			continue
		}
		others = append(others, g)
	}
	if !sawEvent {
		t.Errorf("the SMS event of the inferred form was not delivered")
	}
	if len(others) != len(want) {
		t.Fatalf("handler got %d frames that are not events, want %d", len(others), len(want))
	}
	for i, w := range want { // one lane: arrival order
		if !bytes.Equal(others[i].body, w.body) || others[i].header.Get("Content-Type") != w.contentType {
			t.Errorf("POST %d: body %q, Content-Type %q; want %q, %q", i, others[i].body, others[i].header.Get("Content-Type"), w.body, w.contentType)
		}
	}
	r.stdout.waitFor(t, "is forwarded as it came (--non-event-frames forward)", time.Second)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if out := r.stdout.String(); !strings.Contains(out, `"invalid_frames":3`) {
		t.Errorf("the stopped line does not count the 3 frames in invalid_frames:\n%s", out)
	}
}
