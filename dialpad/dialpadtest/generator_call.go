package dialpadtest

import (
	"fmt"
	"math"
)

// call is one call in progress: the events of its lifecycle are built one
// at a time so that its timestamps are coherent with the generator's clock.
type call struct {
	id         int64
	direction  string
	target     party
	targetType string
	contact    party
	states     []string
	step       int   // index in states of the next event
	last       int64 // event_timestamp of the previous event
	start      int64
	rang       int64
	connected  int64
	ended      int64
	mos        float64
	total      float64 // total_duration in ms (with a fraction, as Dialpad's)
	recID      string
	links      [2]string // company, public share links
	transcript string
}

// stateGaps is the delay in ms, [lo, hi], between a call's previous event
// and the event of each state.
var stateGaps = map[string][2]int64{
	"calling":            {50, 500},
	"ringing":            {500, 3000},
	"connected":          {2000, 15000},
	"hangup":             {5000, 120000},
	"recording":          {1000, 5000},
	"call_transcription": {5000, 30000},
}

var transcripts = []string{
	"Hello, thanks for calling. How can I help? I'd like to check my order status.",
	"Hi, this is a follow-up about the quote we sent last week.",
	"Good morning, I'm calling to reschedule my appointment.",
}

func (c *call) done() bool { return c.step >= len(c.states) }

// newCall starts a call with a fresh call_id.
func (g *Generator) newCall() *call {
	c := &call{
		id:        g.id(),
		direction: "inbound",
		contact:   pick(g, g.callers),
		states:    []string{"calling", "ringing", "connected", "hangup", "recording"},
		mos:       float64(350+g.rng.IntN(100)) / 100,
		recID:     idString(g.id()),
		last:      g.clock,
	}
	if g.rng.IntN(3) == 0 {
		c.direction = "outbound"
	}
	c.target, c.targetType = pick(g, g.users), "user"
	if g.rng.IntN(4) == 0 {
		c.target, c.targetType = pick(g, g.offices), "office"
	}
	if g.rng.IntN(3) == 0 {
		c.states = append(c.states, "call_transcription")
		c.transcript = pick(g, transcripts)
	}
	for i := range c.links {
		c.links[i] = fmt.Sprintf("https://dialpad.com/shared/call/EXAMPLE%016X%016X", g.rng.Uint64(), g.rng.Uint64())
	}
	return c
}

// CallLifecycle returns the events of one new call in order: calling,
// ringing, connected, hangup, recording and sometimes call_transcription,
// all with the same call_id, increasing event_timestamps and coherent dates
// and durations.
func (g *Generator) CallLifecycle() [][]byte {
	c := g.newCall()
	events := make([][]byte, 0, len(c.states))
	for !c.done() {
		events = append(events, g.callEvent(c))
	}
	return events
}

// callEvent builds the event of c's next state and advances c.
func (g *Generator) callEvent(c *call) []byte {
	state := c.states[c.step]
	c.step++
	gap := stateGaps[state]
	ts := max(g.clock+1, c.last+gap[0]+g.rng.Int64N(gap[1]-gap[0]+1))
	g.clock = ts
	at := ts - g.rng.Int64N((ts-c.last)/4+1) // when the state changed, before the event
	c.last = ts
	switch state {
	case "calling":
		c.start = at
	case "ringing":
		c.rang = at
	case "connected":
		c.connected = at
	case "hangup":
		c.ended = at
		c.total = math.Round(float64(c.ended-c.start)*100+float64(g.rng.IntN(100))) / 100
	}

	o := g.tmpl["call"].clone()
	o.set("call_id", jInt(c.id)).
		set("company_call_review_share_link", jStr(c.links[0]))
	o.sub("contact").set("email", jStr("")).set("id", jInt(c.contact.id)).
		set("name", jStr(c.contact.name)).set("phone", jStr(c.contact.phone))
	o.set("date_connected", jIntOrNull(c.connected)).
		set("date_ended", jIntOrNull(c.ended)).
		set("date_first_rang", jIntOrNull(c.rang)).
		set("date_rang", jIntOrNull(c.rang)).
		set("date_started", jInt(c.start)).
		set("direction", jStr(c.direction)).
		set("event_timestamp", jInt(ts)).
		set("external_number", jStr(c.contact.phone)).
		set("group_id", jStr("Office:"+idString(c.target.office))).
		set("internal_number", jStr(c.target.phone)).
		set("is_transferred", jsonFalse).
		set("public_call_review_share_link", jStr(c.links[1])).
		set("state", jStr(state))
	o.sub("target").set("email", jStr(c.target.email)).set("id", jInt(c.target.id)).
		set("name", jStr(c.target.name)).set("office_id", jInt(c.target.office)).
		set("phone", jStr(c.target.phone)).set("type", jStr(c.targetType))

	talk := int64(0)
	if c.ended != 0 {
		talk = c.ended - c.connected
		o.set("duration", jInt(talk)).
			set("mos_score", jFloat(c.mos)).
			set("total_duration", jFloat(c.total))
	} else {
		o.set("mos_score", jsonNull).set("total_duration", jInt(0))
	}
	o.set("talk_time", jInt(talk)).set("was_recorded", jBool(c.connected != 0))
	if state == "recording" || state == "call_transcription" {
		o.set("call_recording_ids", jStrs(c.recID)).
			set("recording_details", []byte(fmt.Sprintf(
				`[{"duration":%d,"id":%s,"recording_type":"callrecording","start_time":%d,"url":%s}]`,
				talk, jStr(c.recID), c.connected, jStr("https://dialpad.com/r/"+c.recID))))
	}
	if state == "call_transcription" {
		o.set("transcription_text", jStr(c.transcript))
	}
	return o.bytes()
}
