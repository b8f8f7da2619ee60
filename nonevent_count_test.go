package main

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestNonEventFramesCountedOnce: every frame published counts once in the
// stopped line and in status, whatever the filters leave out. A frame
// that is not an event counts in invalid_frames (Dialpad sent something
// the agent could not read), and only there: forwarded as it came
// (--non-event-frames forward) and then left out by --events or
// --call-states it also counted in filtered (the events the user chose to
// leave out), so the counters added up to more frames than came.
func TestNonEventFramesCountedOnce(t *testing.T) {
	nonEvents := [][]byte{[]byte("connected"), []byte(`"aaa.bbb.ccc"`), []byte(`[{"call_id":1}]`)}
	for _, tc := range []struct {
		name      string
		typ       string // of the events published, and of the subscription
		byType    bool   // a --subscription TYPE:ID source, not --websocket-id
		routed    bool   // --route TYPE=URL, no --forward-to
		flags     []string
		left, hit []byte // an event the filters leave out, published first; one delivered, published last
	}{
		{name: "events", typ: "sms", flags: []string{"--non-event-frames", "forward", "--events", "sms"},
			left: []byte(`{"call_id":1,"state":"ringing"}`), hit: []byte(`{"id":2,"message_status":"pending"}`)},
		{name: "events-routes", typ: "sms", routed: true, flags: []string{"--non-event-frames", "forward", "--events", "sms"},
			left: []byte(`{"call_id":1,"state":"ringing"}`), hit: []byte(`{"id":2,"message_status":"pending"}`)},
		{name: "call-states", typ: "call", byType: true, flags: []string{"--non-event-frames", "forward", "--call-states", "hangup"},
			left: []byte(`{"call_id":1,"state":"ringing"}`), hit: []byte(`{"call_id":1,"state":"hangup"}`)},
		{name: "skip", typ: "sms", flags: []string{"--events", "sms"}, // as it was: skipped before the filters
			left: []byte(`{"call_id":1,"state":"ringing"}`), hit: []byte(`{"id":2,"message_status":"pending"}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := dialpadtest.NewServer(dialpadtest.Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Close)
			h := newHook(t, nil)
			path := filepath.Join(t.TempDir(), "events.spool")
			var source []string // status's flags for the listen's source
			args := []string{"listen", "--api-base", srv.URL(), "--api-key", srv.APIKey(), "--log-format", "json"}
			if tc.byType {
				sub, err := srv.AddSubscription(tc.typ, srv.AddWebsocket(""), dialpadtest.SubscriptionOptions{})
				if err != nil {
					t.Fatal(err)
				}
				args = append(args, "--subscription", tc.typ+":"+strconv.FormatInt(sub, 10))
			} else {
				id, err := srv.AddWebsocketForAll("")
				if err != nil {
					t.Fatal(err)
				}
				args = append(args, "--websocket-id", strconv.FormatInt(id, 10))
				source = []string{"--api-base", srv.URL(), "--websocket-id", strconv.FormatInt(id, 10)}
			}
			status := []string{"status", "--json", "--spool", path}
			if tc.routed {
				args = append(args, "--route", tc.typ+"="+h.URL)
				status = append([]string{"status", "--json", "--route", tc.typ}, source...)
			} else {
				args = append(args, "--forward-to", h.URL, "--spool", path)
			}
			r := start(t, append(args, tc.flags...)...)
			r.waitConnected(t, srv, 1)

			// One connection reads in order: once the last frame is
			// delivered, every frame before it has been counted.
			frames := append([][]byte{tc.left}, append(nonEvents, tc.hit)...)
			for _, f := range frames {
				if d := srv.PublishRaw(tc.typ, f); d.Frames != 1 {
					t.Fatalf("PublishRaw wrote %d frames", d.Frames)
				}
			}
			if got := h.waitRequests(t, 1, 10*time.Second); string(got[0].body) != string(tc.hit) {
				t.Fatalf("handler got %q, want %q", got[0].body, tc.hit)
			}
			want := map[string]float64{"received": 1, "filtered": 1, "invalid_frames": float64(len(nonEvents)),
				"duplicates_dropped": 0, "refused_signatures": 0, "lost": 0}
			check := func(what string, got map[string]any) {
				t.Helper()
				sum := 0.0
				for k, w := range want {
					n, _ := got[k].(float64)
					sum += n
					if n != w {
						t.Errorf("%s: %s=%v, want %v", what, k, got[k], w)
					}
				}
				if sum != float64(len(frames)) {
					t.Errorf("%s: the counters add up to %v frames, %d came: %v", what, sum, len(frames), got)
				}
			}
			// received follows the spool's commit, which may end after the
			// delivery: poll for it, with a deadline.
			var st map[string]any
			for deadline := time.Now().Add(10 * time.Second); ; {
				out, err := runCmd(t, status...)
				st = nil
				if err != nil || json.Unmarshal([]byte(out), &st) != nil {
					t.Fatalf("status: %v\n%s", err, out)
				}
				if st["received"] == want["received"] || time.Now().After(deadline) {
					break
				}
				<-time.After(20 * time.Millisecond) // polls a condition with a deadline
			}
			check("status --json", st)
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}
			lines := logLines(t, r.stdout.String(), "stopped")
			if len(lines) != 1 {
				t.Fatalf("%d stopped lines:\n%s", len(lines), r.stdout.String())
			}
			check("stopped line", lines[0])
			// Each is logged as skipped, as without forward, and none as
			// an event filtered out (whose warning says filtered=).
			if n := len(logLines(t, r.stdout.String(), "frame skipped")); n != len(nonEvents) {
				t.Errorf("%d frames logged as skipped, want %d:\n%s", n, len(nonEvents), r.stdout.String())
			}
			if n := len(logLines(t, r.stdout.String(), "an event whose type could not be recognised was filtered out by --events, and is lost")); n != 0 {
				t.Errorf("a frame that is not an event is said an event filtered out:\n%s", r.stdout.String())
			}
			if h.count() != 1 {
				t.Errorf("handler got %d POSTs, want 1", h.count())
			}
		})
	}
}
