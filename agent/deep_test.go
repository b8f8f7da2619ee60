package agent

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// nested is JSON arrays nested n deep.
func nested(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

// JSON events nested deeper than fastjson's 300 levels (a change log's
// free-form additional_data, say) are events all the same: each reaches
// the handler byte for byte, keyed as a shallow one would be. They used to
// be skipped as "invalid JSON" and lost. Only a frame nested deeper than
// encoding/json reads (10000) is skipped, saying so.
func TestDeeplyNestedEventsForwarded(t *testing.T) {
	events := []string{
		`{"call_id":201,"state":"hangup","labels":` + nested(400) + `}`,
		`{"id":202,"from_number":"+15550100","message_status":"pending","target":{"id":1,"x":` + nested(500) + `}}`,
		`{"event":"Created","contact":{"x":` + nested(500) + `,"id":"203"}}`,
		`{"action":"updated_ivr","changed_by":{"id":1},"additional_data":{"a":` + nested(9990) + `}}`,
	}
	tooDeep := `{"call_id":204,"state":"x","a":` + nested(10001) + `}`
	invalid := `{"call_id":205,"a":` + nested(400) + `} trailing`
	frames := append(slices.Clone(events), tooDeep, invalid)
	ws := framesServer(t, frames)
	recv := newReceiver(t, nil)
	r := startAgent(t, testConfig(), recv.url, ws.source())

	waitUntil(t, testWait, func() bool { st := r.a.Stats(); return st.Delivered+st.Invalid == int64(len(frames)) },
		func() string {
			return fmt.Sprintf("stats %+v, want %d frames delivered or skipped", r.a.Stats(), len(frames))
		})
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	received := bodies(recv.deliveries())
	for _, e := range events {
		if received[e] != 1 {
			t.Errorf("handler received an event nested %d deep %d times, want once as sent", strings.Count(e, "["), received[e])
		}
	}
	if len(received) != len(events) {
		t.Errorf("handler received %d events, want %d", len(received), len(events))
	}
	wantArrivedKeys(t, r, "call:201", "changelog", "contact:203", "sms:202")
	var reasons []string
	for _, rec := range r.logs.find(t, "WARN", "frame skipped") {
		reasons = append(reasons, rec.str("reason"))
	}
	want := []string{"not an event: JSON nested deeper than 10000 levels", "not an event: invalid JSON: invalid character 't' after top-level value"}
	if !slices.Equal(reasons, want) {
		t.Errorf("skipped frames' reasons = %q, want %q", reasons, want)
	}
}
