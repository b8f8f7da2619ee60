package dialpadtest

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// keyOrder lists the key paths of data's objects (outside arrays) in order.
func keyOrder(t *testing.T, data []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	var keys []string
	var walk func(prefix string, inArray bool)
	walk = func(prefix string, inArray bool) {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		switch tok {
		case json.Delim('{'):
			for dec.More() {
				k, _ := dec.Token()
				p := prefix + k.(string)
				if !inArray {
					keys = append(keys, p)
				}
				walk(p+".", inArray)
			}
			_, _ = dec.Token()
		case json.Delim('['):
			for dec.More() {
				walk(prefix+"[].", true)
			}
			_, _ = dec.Token()
		}
	}
	walk("", false)
	return keys
}

func decode(t *testing.T, ev []byte) map[string]any {
	t.Helper()
	if !json.Valid(ev) {
		t.Fatalf("invalid JSON: %s", ev)
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, ev)
	if !bytes.Equal(compact.Bytes(), ev) {
		t.Errorf("not compact: %s", ev)
	}
	dec := json.NewDecoder(bytes.NewReader(ev))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func num(t *testing.T, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v is not a number", v)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("%v is not an integer", v)
	}
	return i
}

func TestGeneratorKeyOrder(t *testing.T) {
	g := NewGenerator(1)
	gens := map[string]func() []byte{
		"call": func() []byte { return g.CallLifecycle()[4] }, "sms": g.SMS,
		"agent_status": g.AgentStatus, "contact": g.Contact, "changelog": g.Changelog,
	}
	for typ, gen := range gens {
		tmpl, err := templateFS.ReadFile("templates/" + typ + ".json")
		if err != nil {
			t.Fatal(err)
		}
		ev := gen()
		m := decode(t, ev)
		want, got := keyOrder(t, tmpl), keyOrder(t, ev)
		// An object may be null in an event (changelog additional_data).
		want = slices.DeleteFunc(want, func(k string) bool {
			parent, _, nested := strings.Cut(k, ".")
			return nested && m[parent] == nil
		})
		if !slices.Equal(got, want) {
			t.Errorf("%s keys\n got %v\nwant %v", typ, got, want)
		}
	}
}

func TestCallLifecycle(t *testing.T) {
	g := NewGenerator(7)
	seen := map[int64]bool{}
	above := 0
	for range 300 {
		events := g.CallLifecycle()
		var states []string
		var id, last int64
		var total any
		for i, ev := range events {
			m := decode(t, ev)
			states = append(states, m["state"].(string))
			cid, ts := num(t, m["call_id"]), num(t, m["event_timestamp"])
			if i > 0 && cid != id {
				t.Fatalf("call_id changed within a lifecycle")
			}
			if ts <= last {
				t.Fatalf("event_timestamp not increasing: %s", ev)
			}
			id, last = cid, ts
			if i > 3 && m["total_duration"] != total {
				t.Errorf("total_duration changed after hangup: %v, %v", m["total_duration"], total)
			}
			total = m["total_duration"]
			if m["state"] == "hangup" {
				start, rang := num(t, m["date_started"]), num(t, m["date_rang"])
				conn, end := num(t, m["date_connected"]), num(t, m["date_ended"])
				if !(start <= rang && rang <= conn && conn <= end && end <= ts) {
					t.Errorf("incoherent dates: %s", ev)
				}
				if num(t, m["duration"]) != end-conn {
					t.Errorf("duration != date_ended - date_connected: %s", ev)
				}
			}
		}
		want := []string{"calling", "ringing", "connected", "hangup", "recording"}
		if len(states) == 6 {
			want = append(want, "call_transcription")
		}
		if !slices.Equal(states, want) {
			t.Fatalf("states %v", states)
		}
		if seen[id] {
			t.Fatalf("call_id %d repeated", id)
		}
		seen[id] = true
		if id < 1<<52 {
			t.Errorf("call_id %d is small", id)
		}
		if id > 1<<53 {
			above++
		}
	}
	if above == 0 || above == len(seen) {
		t.Errorf("%d of %d call_ids above 2^53; want some", above, len(seen))
	}
}

func TestGeneratorNext(t *testing.T) {
	a, b := NewGenerator(42), NewGenerator(42)
	counts := map[string]int{}
	ids := map[string]bool{}
	progress := map[int64]int{} // call_id → index of its last state
	order := []string{"calling", "ringing", "connected", "hangup", "recording", "call_transcription"}
	var lastTS int64
	for range 3000 {
		typ, ev := a.Next()
		typ2, ev2 := b.Next()
		if typ != typ2 || !bytes.Equal(ev, ev2) {
			t.Fatal("same seed, different events")
		}
		counts[typ]++
		m := decode(t, ev)
		var id string
		switch typ {
		case "call":
			cid := num(t, m["call_id"])
			i := slices.Index(order, m["state"].(string))
			if prev, ok := progress[cid]; ok && i != prev+1 || !ok && i != 0 {
				t.Fatalf("call %d: state %s after index %d", cid, m["state"], progress[cid])
			}
			progress[cid] = i
		case "sms":
			id = "sms" + m["id"].(json.Number).String()
		case "contact":
			id = "contact" + m["contact"].(map[string]any)["id"].(string)
		}
		if id != "" {
			if ids[id] {
				t.Fatalf("id %s repeated", id)
			}
			ids[id] = true
		}
		if ts, ok := m["event_timestamp"]; ok {
			if n := num(t, ts); n <= lastTS {
				t.Fatalf("event_timestamp %d not after %d", n, lastTS)
			} else {
				lastTS = n
			}
		}
	}
	if counts["call"] < 1500 {
		t.Errorf("mix %v: want mostly call events", counts)
	}
	for _, typ := range eventTypes {
		if counts[typ] == 0 {
			t.Errorf("mix %v lacks %s", counts, typ)
		}
	}
	if len(NewGenerator(43).CallLifecycle()[0]) == 0 || bytes.Equal(NewGenerator(43).SMS(), NewGenerator(44).SMS()) {
		t.Error("different seeds, same event")
	}
}

func BenchmarkGeneratorNext(b *testing.B) {
	g := NewGenerator(1)
	b.ReportAllocs()
	for b.Loop() {
		g.Next()
	}
}
