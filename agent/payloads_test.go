package agent

import (
	"os"
	"path/filepath"
	"testing"
)

// samplePayloads holds Dialpad's sample payloads of every event type, as
// shared with the project (copied byte for byte from its
// shared/dialpad/payloads; the compacted copies in classify_test.go can
// drift from them).
const samplePayloads = "testdata/payloads"

// TestClassifySamplePayloadFiles classifies each sample payload file as
// stored (indented, or the JWT file with its newline) on a websocket's
// connection, which carries every type, and checks the key the README's
// "Order where it matters" promises. Every event file must be listed: a
// new sample gets a row.
func TestClassifySamplePayloadFiles(t *testing.T) {
	want := map[string]frame{
		"call.json":         {typ: "call", key: "call:6421977457180672", detail: "hangup"},
		"call.hs256.jwt":    {jwt: true, typ: "call", key: "call:6421977457180672", detail: "hangup"},
		"sms.json":          {typ: "sms", key: "sms:6095823680520192", detail: "pending"},
		"agent_status.json": {typ: "agent_status", key: "agent:5111111111111111", detail: "available"},
		"contact.json":      {typ: "contact", key: "contact:5908860123456789", detail: "Created"},
		"changelog.json":    {typ: "changelog", key: "changelog", detail: "operator_removed"},
	}
	files, err := filepath.Glob(filepath.Join(samplePayloads, "*"))
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("no expected key for sample %s: add one", name)
			}
			seen++
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := classify(data, "")
			if err != nil {
				t.Fatalf("classify: %v", err)
			}
			if got != w {
				t.Errorf("classify = %+v, want %+v", got, w)
			}
			// A subscription's connection names the type: the same key.
			if sub, err := classify(data, w.typ); err != nil || sub != w {
				t.Errorf("classify with source type %s = %+v, %v; want %+v", w.typ, sub, err, w)
			}
		})
	}
	if seen != len(want) {
		t.Errorf("%d of the %d expected samples found in %s", seen, len(want), samplePayloads)
	}
}
