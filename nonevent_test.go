package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
)

// TestNonEventFramesKept: with --non-event-frames keep, frames that are
// not events are not forwarded but kept as dead letters with their exact
// bytes (events show --json gives them, as body_base64 when they are not
// UTF-8), shown as form raw, and one replayed by id reaches the handler
// exactly, as application/octet-stream (it was application/json); events
// around them are delivered as usual.
func TestNonEventFramesKept(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, nil)
	path := filepath.Join(t.TempDir(), "events.spool")
	r := start(t, listenArgs(srv, wsID, h.URL, "--spool", path, "--non-event-frames", "keep", "--log-format", "json")...)
	r.waitConnected(t, srv, 1)

	frames := [][]byte{[]byte("hello"), {0x00, 0xff, 0xfe, 'b', 'i', 'n'}, []byte(`{"call_id":`)}
	for _, f := range frames {
		if d := srv.PublishRaw("sms", f); d.Frames != 1 {
			t.Fatalf("PublishRaw wrote %d frames", d.Frames)
		}
	}
	ev := dialpadtest.NewGenerator(5).SMS()
	srv.Publish("sms", ev)
	if got := h.waitRequests(t, 1, 10*time.Second); !bytes.Equal(got[0].body, ev) {
		t.Fatalf("handler got %q, want the SMS event", got[0].body)
	}
	waitUntilListed(t, path, "--dead", len(frames), 10*time.Second)
	dead := listJSON(t, "--dead", "--spool", path)
	if len(dead) != len(frames) {
		t.Fatalf("%d dead letters, want %d: %+v", len(dead), len(frames), dead)
	}
	for i, d := range dead { // in arrival order
		var full eventJSON
		if err := json.Unmarshal([]byte(mustCLI(t, "events", "show", d.ID, "--json", "--spool", path)), &full); err != nil {
			t.Fatal(err)
		}
		var body []byte
		switch {
		case full.Body != nil:
			body = []byte(*full.Body)
		case full.BodyBase64 != "":
			body, _ = base64.StdEncoding.DecodeString(full.BodyBase64)
		}
		if !bytes.Equal(body, frames[i]) || full.Key != "other" || !bytes.Contains([]byte(full.Reason), []byte("kept, not forwarded")) {
			t.Errorf("dead letter %d: body %q, key %q, reason %q; want %q, other:, kept", i, body, full.Key, full.Reason, frames[i])
		}
		// Neither JSON nor a JWT: shown, and sent, as what it is.
		if full.Form != "raw" || full.Headers["Content-Type"] != forward.ContentTypeRaw {
			t.Errorf("dead letter %d: form %q, Content-Type %q; want raw, %s", i, full.Form, full.Headers["Content-Type"], forward.ContentTypeRaw)
		}
	}
	r.stdout.waitFor(t, "frame kept as a dead letter, not forwarded", time.Second)

	// Replaying the dead letters puts none of them back: only by id.
	mustContain(t, mustCLI(t, "events", "replay", "--dead", "--spool", path),
		"nothing to replay in "+path+": 3 frames kept although not events (--non-event-frames keep) left dead: replay such a frame by its id")

	// One was an event after all: replayed by id, it is POSTed exactly.
	mustContain(t, mustCLI(t, "events", "replay", dead[0].ID, "--spool", path), "put back 1 event as pending")
	all := h.waitRequests(t, 2, 10*time.Second)
	again := all[1]
	if !bytes.Equal(again.body, frames[0]) || again.header.Get(forward.DefaultIDHeader) != dead[0].ID || again.header.Get("Content-Type") != forward.ContentTypeRaw {
		t.Fatalf("replayed POST: body %q, id %s, Content-Type %q; want %q, %s, %s", again.body, again.header.Get(forward.DefaultIDHeader), again.header.Get("Content-Type"),
			frames[0], dead[0].ID, forward.ContentTypeRaw)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if got := h.waitRequests(t, 0, 0); len(got) != 2 {
		t.Errorf("handler got %d POSTs, want 2: the event and the frame replayed by id", len(got))
	}
	mustContain(t, r.stdout.String(), `"invalid_frames":3`)
}
