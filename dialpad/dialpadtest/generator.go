package dialpadtest

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"time"
)

// Generator builds realistic Dialpad events from the embedded templates:
// compact JSON with the templates' key order, large ids (from 2^52 to
// 2.5·2^52, so some are above 2^53) and coherent millisecond timestamps
// from a simulated clock that only moves forward. The same seed gives the
// same events. A Generator is not safe for concurrent use.
type Generator struct {
	rng     *rand.Rand
	tmpl    map[string]*object
	seq     uint64 // ids issued so far
	idMul   uint64 // coprime with idSpace
	idOff   uint64
	clock   int64 // ms since the Unix epoch of the latest event
	offices []party
	users   []party
	centers []int64 // call centre ids
	callers []party // external parties
	active  []*call // calls in progress, interleaved by Next
}

// party is a Dialpad target or an external contact.
type party struct {
	id     int64
	name   string
	email  string
	phone  string
	office int64 // users: their office
}

// idSpace is the number of distinct ids; ids are 2^52 + a permutation of
// the sequence number modulo idSpace, so they never repeat.
const idSpace = 3 << 51

// genEpoch is the default start of a generator's clock (2024-11-15 UTC).
const genEpoch = 1731628800000

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Radia", "Donald", "Frances", "Leslie"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Perlman", "Knuth", "Allen", "Lamport"}
	smsTexts   = []string{"Hi, can you call me back?", "Running 5 minutes late.", "Thanks, got it!",
		"Is the appointment still on for tomorrow?", "Please send the invoice.", "This is a test SMS - please ignore."}
)

// NewGenerator returns a generator whose output depends only on seed.
func NewGenerator(seed int64) *Generator {
	g := &Generator{
		rng:  rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15)),
		tmpl: make(map[string]*object, len(eventTypes)),
	}
	for _, typ := range eventTypes {
		t, err := loadTemplate(typ)
		if err != nil {
			panic("dialpadtest: embedded template " + typ + ": " + err.Error())
		}
		g.tmpl[typ] = t
	}
	g.idMul = g.rng.Uint64N(idSpace/6)*6 + 1 // ≡ 1 mod 6: odd and not a multiple of 3
	g.idOff = g.rng.Uint64N(idSpace)
	g.clock = genEpoch + g.rng.Int64N(24*3600*1000)
	for i := range 2 {
		id := g.id()
		g.offices = append(g.offices, party{id: id, name: fmt.Sprintf("Office %d", i+1),
			phone: fmt.Sprintf("+1555010%04d", 200+i), office: id})
	}
	for i := range 6 {
		name := g.name()
		g.users = append(g.users, party{id: g.id(), name: name, email: email(name),
			phone: fmt.Sprintf("+1555010%04d", 300+i), office: g.offices[i%2].id})
	}
	for range 2 {
		g.centers = append(g.centers, g.id())
	}
	for i := range 20 {
		g.callers = append(g.callers, party{id: g.id(), name: g.name(), phone: fmt.Sprintf("+1555010%04d", 100+i)})
	}
	return g
}

// SetClock moves the generator's clock forward to t; it never goes back.
// Later events have timestamps after t.
func (g *Generator) SetClock(t time.Time) {
	g.clock = max(g.clock, t.UnixMilli())
}

// id returns a fresh id that this generator never returned before.
func (g *Generator) id() int64 {
	g.seq++
	hi, lo := bits.Mul64((g.seq+g.idOff)%idSpace, g.idMul)
	return int64(1<<52 + bits.Rem64(hi, lo, idSpace))
}

// tick advances the clock by a random step in [lo, hi] ms and returns it.
func (g *Generator) tick(lo, hi int64) int64 {
	g.clock += lo + g.rng.Int64N(hi-lo+1)
	return g.clock
}

func (g *Generator) name() string {
	return firstNames[g.rng.IntN(len(firstNames))] + " " + lastNames[g.rng.IntN(len(lastNames))]
}

func pick[T any](g *Generator, xs []T) T { return xs[g.rng.IntN(len(xs))] }

func email(name string) string {
	b := []byte(name)
	for i, c := range b {
		switch {
		case c == ' ':
			b[i] = '.'
		case c >= 'A' && c <= 'Z':
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b) + "@example.com"
}

// displayPhone formats +1NPANXXXXXX as (NPA) NXX-XXXX, as SMS targets show it.
func displayPhone(e164 string) string {
	return "(" + e164[2:5] + ") " + e164[5:8] + "-" + e164[8:]
}

// Next returns one event of a realistic mix: about 70% call events, with
// up to three calls' lifecycles interleaved, then SMS, agent status,
// contact and change log events.
func (g *Generator) Next() (typ string, event []byte) {
	switch r := g.rng.IntN(100); {
	case r < 70:
		if len(g.active) == 0 || len(g.active) < 3 && g.rng.IntN(3) == 0 {
			g.active = append(g.active, g.newCall())
		}
		i := g.rng.IntN(len(g.active))
		c := g.active[i]
		ev := g.callEvent(c)
		if c.done() {
			g.active = append(g.active[:i], g.active[i+1:]...)
		}
		return "call", ev
	case r < 85:
		return "sms", g.SMS()
	case r < 93:
		return "agent_status", g.AgentStatus()
	case r < 97:
		return "contact", g.Contact()
	default:
		return "changelog", g.Changelog()
	}
}

// SMS returns an SMS event with a fresh id.
func (g *Generator) SMS() []byte {
	ts := g.tick(100, 5000)
	target, contact := pick(g, g.offices), pick(g, g.callers)
	if g.rng.IntN(2) == 0 {
		target = pick(g, g.users)
	}
	admin := pick(g, g.users)
	dir, from, to := "inbound", contact.phone, target.phone
	if g.rng.IntN(3) == 0 {
		dir, from, to = "outbound", target.phone, contact.phone
	}
	text := jStr(pick(g, smsTexts))
	o := g.tmpl["sms"].clone()
	o.set("admins", []byte(fmt.Sprintf(`[{"id":%d,"name":%s,"phone_number":%s,"type":"user"}]`,
		admin.id, jStr(admin.name), jStr(displayPhone(admin.phone)))))
	o.sub("contact").set("id", jInt(contact.id)).set("name", jStr(contact.name)).
		set("phone_number", jStr(contact.phone))
	o.set("created_date", jInt(ts-g.rng.Int64N(500))).
		set("direction", jStr(dir)).
		set("event_timestamp", jInt(ts)).
		set("from_number", jStr(from)).
		set("id", jInt(g.id()))
	tgtType := "office"
	if target.office != target.id {
		tgtType = "user"
	}
	o.sub("target").set("id", jInt(target.id)).set("name", jStr(target.name)).
		set("phone_number", jStr(displayPhone(target.phone))).set("type", jStr(tgtType))
	o.set("text", text).set("text_content", text).set("to_number", jStrs(to))
	return o.bytes()
}

// AgentStatus returns an agent status event for one of the call centre
// agents.
func (g *Generator) AgentStatus() []byte {
	ts := g.tick(100, 5000)
	agent := pick(g, g.users)
	duty := pick(g, []string{"available", "available", "unavailable", "occupied", "wrapup"})
	avail, reason := "available", ""
	switch duty {
	case "occupied":
		avail = "busy"
	case "unavailable":
		reason = pick(g, []string{"Lunch", "Meeting", "Break"})
	}
	o := g.tmpl["agent_status"].clone()
	o.set("availability_status", jStr(avail)).
		set("call_center_ids", jStrs(idString(g.centers[0]), idString(g.centers[1]))).
		set("date", jInt(ts-g.rng.Int64N(500))).
		set("event_timestamp", jInt(ts)).
		set("on_duty_status", jStr(duty)).
		set("on_duty_status_reason", jStr(reason))
	o.sub("target").set("email", jStr(agent.email)).set("id", jInt(agent.id)).
		set("name", jStr(agent.name)).set("phone", jStr(agent.phone))
	return o.bytes()
}

// Contact returns a contact event (Created, Updated or Deleted) for a new
// contact id.
func (g *Generator) Contact() []byte {
	g.tick(100, 5000)
	first, last := pick(g, firstNames), pick(g, lastNames)
	mail := email(first + " " + last)
	phone := fmt.Sprintf("+1555010%04d", 500+g.rng.IntN(100))
	o := g.tmpl["contact"].clone()
	o.set("event", jStr(pick(g, []string{"Created", "Created", "Updated", "Deleted"})))
	o.sub("contact").set("id", jStr(idString(g.id()))).
		set("type", jStr(pick(g, contactTypes))).
		set("first_name", jStr(first)).set("last_name", jStr(last)).
		set("display_name", jStr(first+" "+last)).
		set("phones", jStrs(phone)).set("primary_phone", jStr(phone)).
		set("emails", jStrs(mail)).set("primary_email", jStr(mail))
	return o.bytes()
}

// Changelog returns a change log event.
func (g *Generator) Changelog() []byte {
	ts := g.tick(100, 5000)
	office, admin, user := pick(g, g.offices), pick(g, g.users), pick(g, g.users)
	o := g.tmpl["changelog"].clone()
	action, note := "updated_ivr", "Main line IVR updated"
	data := jsonNull
	if g.rng.IntN(2) == 0 {
		action, note = pick(g, []string{"operator_added", "operator_removed"}), "Operator changed"
		data = []byte(fmt.Sprintf(`{"name":%s,"operator_name":%s}`, jStr(office.name), jStr(user.name)))
	}
	o.set("action", jStr(action)).set("additional_data", data)
	o.sub("changed_by").set("name", jStr(admin.name)).set("id", jInt(admin.id))
	o.set("date", jInt(ts)).set("note", jStr(note))
	o.sub("target").set("id", jInt(office.id))
	return o.bytes()
}
