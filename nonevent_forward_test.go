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

// TestNonEventForwardFilteredIsNotSaidForwarded: with --events (as
// --create always has), a frame that is not an event has no type and is
// filtered out (and lost, as its "frame skipped" warning says); the first
// warning must not say it "is forwarded as it came" when the handler never
// gets it.
func TestNonEventForwardFilteredIsNotSaidForwarded(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, func(int) int { return http.StatusNoContent })
	r := start(t, listenArgs(srv, wsID, h.URL, "--no-spool", "--non-event-frames", "forward", "--events", "sms")...)
	r.waitConnected(t, srv, 1)
	srv.PublishRaw("sms", []byte("connected"))
	ev := dialpadtest.NewGenerator(5).SMS()
	srv.Publish("sms", ev)
	got := h.waitRequests(t, 1, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !bytes.Equal(got[0].body, ev) {
		t.Fatalf("handler got %d requests, want only the SMS", len(got))
	}
	if out := r.stdout.String(); strings.Contains(out, "is forwarded as it came") {
		t.Errorf("a frame the handler never got is said forwarded:\n%s", out)
	}
}

// TestNonEventForwardArrivalLineForm: the --> line of a forwarded frame
// that is neither JSON nor a JWT says form=raw, as events list --json
// and events show do, not form=json (it is sent as
// application/octet-stream).
func TestNonEventForwardArrivalLineForm(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, nil)
	r := start(t, listenArgs(srv, wsID, h.URL, "--no-spool", "--non-event-frames", "forward", "--log-format", "json")...)
	r.waitConnected(t, srv, 1)
	srv.PublishRaw("sms", []byte("\xff\xfe binary"))
	srv.PublishRaw("sms", []byte(`["a JSON array"]`))
	got := h.waitRequests(t, 2, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if ct := got[0].header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	var forms []string
	for _, line := range strings.Split(r.stdout.String(), "\n") {
		if strings.Contains(line, `"msg":"event arrived"`) {
			_, rest, _ := strings.Cut(line, `"form":"`)
			f, _, _ := strings.Cut(rest, `"`)
			forms = append(forms, f)
		}
	}
	if strings.Join(forms, ",") != "raw,json" {
		t.Errorf("arrival lines say form %v, want [raw json]\n%s", forms, r.stdout.String())
	}
}
