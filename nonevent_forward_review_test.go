package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestNonEventForwardFilteredIsNotSaidForwarded: with --events (as
// --create always has), a frame that is not an event has no type and is
// filtered out (and lost, as the warning for it says); the first warning
// must not say it "is forwarded as it came" when the handler never gets it.
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
