package agent

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
	"github.com/valyala/fastjson"
)

// Sample events, compacted from ../shared/dialpad/payloads/*.json (key order
// and values kept).
const (
	sampleCall        = `{"call_id":6421977457180672,"call_recording_ids":[],"callback_requested":null,"company_call_review_share_link":"https://dialpad.com/shared/call/EXAMPLECOMPANYSHARELINK000000000000000000","contact":{"email":"","id":6131436978913280,"name":"Example Caller","phone":"+15550100100","type":"local"},"csat_score":null,"date_connected":null,"date_ended":1731624048355,"date_first_rang":null,"date_queued":null,"date_rang":null,"date_started":1731624039404,"direction":"inbound","duration":0,"entry_point_call_id":null,"entry_point_target":{},"event_timestamp":1731624049994,"external_number":"+15550100100","group_id":"Office:5527348325810176","hold_time":0,"internal_number":"+15550100200","is_transferred":true,"labels":[],"master_call_id":null,"mos_score":4.41,"operator_call_id":null,"proxy_target":{},"public_call_review_share_link":"https://dialpad.com/shared/call/EXAMPLEPUBLICSHARELINK0000000000000000000","recording_details":[],"routing_breadcrumbs":[],"state":"hangup","talk_time":0,"target":{"email":"","id":5527348325810176,"name":"Example Office","office_id":5527348325810176,"phone":"+15550100200","type":"office"},"target_availability_status":"open","total_duration":8951.029999999999,"transcription_text":null,"voicemail_link":null,"voicemail_recording_id":null,"was_recorded":false}`
	sampleSMS         = `{"admins":[{"id":6426782727880704,"name":"Example Admin","phone_number":"(555) 010-0300","type":"user"}],"contact":{"id":5914569395306496,"name":"Example Sender","phone_number":"+15550100400"},"created_date":1731632669183,"direction":"inbound","event_timestamp":1731632669601,"from_number":"+15550100400","id":6095823680520192,"is_internal":false,"message_delivery_result":null,"message_status":"pending","mms":false,"mms_url":null,"sender_id":null,"target":{"id":5527348325810176,"name":"Example Office","phone_number":"(555) 010-0200","type":"office"},"text":"This is a test SMS - please ignore.","text_content":"This is a test SMS - please ignore.","to_number":["+15550100200"]}`
	sampleAgentStatus = `{"availability_status":"available","call_center_ids":["5883344555555555","6214545667777777"],"date":1620328863056,"event_timestamp":1620328863512,"on_duty_status":"available","on_duty_status_reason":"","powerdialer_mode":false,"powerdialer_session":null,"target":{"email":"agent@example.com","id":5111111111111111,"name":"Example Agent","phone":"+123456789","type":"user"}}`
	sampleContact     = `{"event":"Created","contact":{"id":"5908860123456789","type":"shared","first_name":"sample","last_name":"test","display_name":"sample test","phones":["+16043111111","+16043111112"],"primary_phone":"+16043111111","emails":["sample.test@example.com"],"primary_email":"sample.test@example.com","company_name":"Awesome company","job_title":"Awesome job","urls":["https://foobar.com","https://foobar2.com"],"trunk_group":"TEST","extension":"12345"}}`
	sampleChangelog   = `{"action":"operator_removed","additional_data":{"name":"Dialpedia Ltd","operator_name":"Mary Sue"},"changed_by":{"name":"John Doe","id":0,"type":"User"},"date":1620328863056,"note":"Operator removed","target":{"type":"Office","id":1111111}}`
)

// sampleCallIndented is the start of call.json as stored, with newlines and
// indentation, trimmed to the fields the agent reads.
const sampleCallIndented = "{\n  \"call_id\": 6421977457180672,\n  \"contact\": {\n    \"id\": 6131436978913280\n  },\n  \"state\": \"ringing\"\n}"

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func mustSign(t testing.TB, payload, secret string) string {
	t.Helper()
	tok, err := signing.SignHS256([]byte(payload), secret)
	if err != nil {
		t.Fatalf("SignHS256: %v", err)
	}
	return tok
}

func TestClassifyEvents(t *testing.T) {
	tests := []struct {
		name       string
		frame      string
		sourceType string
		want       frame
	}{
		{"call", sampleCall, "", frame{typ: "call", key: "call:6421977457180672", detail: "hangup"}},
		{"call indented", sampleCallIndented, "", frame{typ: "call", key: "call:6421977457180672", detail: "ringing"}},
		{"sms", sampleSMS, "", frame{typ: "sms", key: "sms:6095823680520192", detail: "pending"}},
		{"agent status", sampleAgentStatus, "", frame{typ: "agent_status", key: "agent:5111111111111111", detail: "available"}},
		{"contact with string id", sampleContact, "", frame{typ: "contact", key: "contact:5908860123456789", detail: "Created"}},
		{"changelog", sampleChangelog, "", frame{typ: "changelog", key: "changelog", detail: "operator_removed"}},
		{"jwt call", mustSign(t, sampleCall, "test_secret"), "", frame{jwt: true, typ: "call", key: "call:6421977457180672", detail: "hangup"}},
		{"jwt sms", mustSign(t, sampleSMS, "s3cret"), "", frame{jwt: true, typ: "sms", key: "sms:6095823680520192", detail: "pending"}},
		{"jwt without typ in header", b64(`{"alg":"HS256"}`) + "." + b64(sampleContact) + ".c2ln", "",
			frame{jwt: true, typ: "contact", key: "contact:5908860123456789", detail: "Created"}},

		// Ids above 2^53 (9007199254740992) keep every digit.
		{"call id above 2^53", `{"call_id":9007199254740993,"state":"calling"}`, "", frame{typ: "call", key: "call:9007199254740993", detail: "calling"}},
		{"sms id above 2^53", `{"id":18014398509481985,"from_number":"+15550100400","message_status":"sent"}`, "",
			frame{typ: "sms", key: "sms:18014398509481985", detail: "sent"}},
		{"agent id above 2^53", `{"on_duty_status":"wrapup","target":{"id":9007199254740995}}`, "",
			frame{typ: "agent_status", key: "agent:9007199254740995", detail: "wrapup"}},
		{"jwt call id above 2^53", mustSign(t, `{"call_id":9223372036854775807,"state":"hangup"}`, "k"), "",
			frame{jwt: true, typ: "call", key: "call:9223372036854775807", detail: "hangup"}},
		{"string call id", `{"call_id":"9007199254740993","state":"connected"}`, "", frame{typ: "call", key: "call:9007199254740993", detail: "connected"}},

		// changed_by is redacted (null or left out) for Dialpad's staff: the
		// target still tells a change log. It was unrecognised, and lost
		// with --events changelog.
		{"changelog by Dialpad staff (changed_by null)", `{"action":"updated_ivr","changed_by":null,"date":1,"note":"x","target":{"id":1,"type":"office"}}`, "",
			frame{typ: "changelog", key: "changelog", detail: "updated_ivr"}},
		{"changelog without changed_by", `{"action":"updated_ivr","date":1,"target":{"id":1,"type":"office"}}`, "",
			frame{typ: "changelog", key: "changelog", detail: "updated_ivr"}},
		{"action alone is no change log", `{"action":"updated_ivr"}`, "", frame{key: "other"}},
		// A call whose call_id is null is still a call (--events call keeps
		// it), on the lane of calls without an id.
		{"call with call_id null", `{"call_id":null,"state":"hangup","target":{"id":1}}`, "", frame{typ: "call", key: "other:call"}},

		// Only availability_status, no on_duty_status: still agent status.
		{"agent availability only", `{"availability_status":"busy","target":{"id":7}}`, "", frame{typ: "agent_status", key: "agent:7"}},
		// An SMS recognised by message_status alone.
		{"sms by status", `{"id":42,"message_status":"delivered"}`, "", frame{typ: "sms", key: "sms:42", detail: "delivered"}},

		// A subscription-scoped source names the type: it wins over inference.
		{"source type sms overrides call fields", `{"call_id":5,"id":77,"state":"ringing","message_status":"sent"}`, "sms",
			frame{typ: "sms", key: "sms:77", detail: "sent"}},
		{"source type contact", sampleContact, "contact", frame{typ: "contact", key: "contact:5908860123456789", detail: "Created"}},
		{"source type changelog without changed_by", `{"action":"updated_ivr"}`, "changelog", frame{typ: "changelog", key: "changelog", detail: "updated_ivr"}},
		{"source type call jwt", mustSign(t, sampleCall, "k"), "call", frame{jwt: true, typ: "call", key: "call:6421977457180672", detail: "hangup"}},
		{"source type without its id", `{"state":"ringing"}`, "call", frame{typ: "call", key: "other:call"}},

		// Unrecognised JSON objects are events of unknown type on one lane.
		{"empty object", `{}`, "", frame{key: "other"}},
		{"unknown fields", `{"fax_id":1,"pages":3}`, "", frame{key: "other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := classify([]byte(tt.frame), tt.sourceType)
			if err != nil {
				t.Fatalf("classify: %v", err)
			}
			if got != tt.want {
				t.Errorf("classify = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestClassifyDoesNotModifyFrame(t *testing.T) {
	for _, s := range []string{sampleCall, mustSign(t, sampleSMS, "k")} {
		data := []byte(s)
		if _, err := classify(data, ""); err != nil {
			t.Fatal(err)
		}
		if string(data) != s {
			t.Errorf("classify changed the frame bytes")
		}
	}
}

// A JSON object after RFC 8259 whitespace (space, tab, CR, LF) or a UTF-8
// byte order mark (§8.1: a parser may ignore it) is an event like the same
// object without them, and classify leaves the frame's bytes as they are:
// the agent forwards the frame as received.
func TestClassifyLeadingWhitespaceAndBOM(t *testing.T) {
	const bom = "\xef\xbb\xbf"
	call := frame{typ: "call", key: "call:6421977457180672", detail: "hangup"}
	tests := []struct {
		name       string
		frame      string
		sourceType string
		want       frame
	}{
		{"space", " " + sampleCall, "", call},
		{"tab", "\t" + sampleCall, "", call},
		{"cr", "\r" + sampleCall, "", call},
		{"lf", "\n" + sampleCall, "", call},
		{"crlf and indentation", "\r\n  \t" + sampleCall + "\r\n", "", call},
		{"indented call", "\n" + sampleCallIndented + "\n", "", frame{typ: "call", key: "call:6421977457180672", detail: "ringing"}},
		{"sms", "  " + sampleSMS, "", frame{typ: "sms", key: "sms:6095823680520192", detail: "pending"}},
		{"byte order mark", bom + sampleCall, "", call},
		{"byte order mark and whitespace", bom + "\r\n" + sampleCall + "\n", "", call},
		{"byte order mark contact", bom + sampleContact, "", frame{typ: "contact", key: "contact:5908860123456789", detail: "Created"}},
		{"byte order mark with source type", bom + sampleSMS, "sms", frame{typ: "sms", key: "sms:6095823680520192", detail: "pending"}},
		{"id above 2^53", "\n" + `{"call_id":9007199254740993,"state":"calling"}`, "", frame{typ: "call", key: "call:9007199254740993", detail: "calling"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.frame)
			got, err := classify(data, tt.sourceType)
			if err != nil {
				t.Fatalf("classify(%.40q): %v", tt.frame, err)
			}
			if got != tt.want {
				t.Errorf("classify = %+v, want %+v", got, tt.want)
			}
			if string(data) != tt.frame {
				t.Errorf("classify changed the frame bytes to %.40q", data)
			}
		})
	}
}

func TestClassifyRejects(t *testing.T) {
	header := b64(`{"alg":"HS256","typ":"JWT"}`)
	tests := []struct {
		name   string
		frame  string
		reason string // part of the error text
	}{
		{"empty", "", "empty frame"},
		{"hello text", "hello", "neither a JSON object nor a compact JWT"},
		{"json array", "[1,2]", "neither a JSON object nor a compact JWT"},
		{"json string", `"call"`, "neither a JSON object nor a compact JWT"},
		{"whitespace only", " \t\r\n", "neither a JSON object nor a compact JWT"},
		{"byte order mark only", "\xef\xbb\xbf", "neither a JSON object nor a compact JWT"},
		{"byte order mark then text", "\xef\xbb\xbfhello", "neither a JSON object nor a compact JWT"},
		{"two byte order marks", "\xef\xbb\xbf\xef\xbb\xbf" + sampleCall, "neither a JSON object nor a compact JWT"},
		{"byte order mark after whitespace", " \xef\xbb\xbf" + sampleCall, "neither a JSON object nor a compact JWT"},
		{"partial byte order mark", "\xef\xbb" + sampleCall, "neither a JSON object nor a compact JWT"},
		// Not JSON whitespace (RFC 8259 §2 allows only space, tab, CR, LF).
		{"leading form feed", "\f" + sampleCall, "neither a JSON object nor a compact JWT"},
		{"leading vertical tab", "\v" + sampleCall, "neither a JSON object nor a compact JWT"},
		{"leading no-break space", "\u00a0" + sampleCall, "neither a JSON object nor a compact JWT"},
		{"whitespace then array", "\n[1,2]", "neither a JSON object nor a compact JWT"},
		{"whitespace then invalid object", "\n{\"call_id\":", "invalid JSON"},
		// Whitespace around a JWT is allowed (TestWhitespaceAroundJWTFramesForwardedUnchanged);
		// a byte order mark is not: it is no JSON text.
		{"byte order mark before jwt", "\xef\xbb\xbf" + header + "." + b64(sampleCall) + ".c2ln", "neither a JSON object nor a compact JWT"},
		{"invalid json object", `{"call_id":`, "invalid JSON"},
		{"brace then garbage", `{not json}`, "invalid JSON"},
		{"object then trailing data", `{"call_id":1} {"call_id":2}`, "invalid JSON"},
		{"two-segment token", header + "." + b64(sampleCall), "neither a JSON object nor a compact JWT"},
		{"four-segment token", header + "." + b64(sampleCall) + ".c2ln.c2ln", "neither a JSON object nor a compact JWT"},
		{"empty signature", header + "." + b64(sampleCall) + ".", "empty signature"},
		{"empty payload segment", header + "..c2ln", "neither a JSON object nor a compact JWT"},
		{"padded base64", header + "." + b64(sampleCall) + "==.c2ln", "neither a JSON object nor a compact JWT"},
		{"jwt payload not base64", header + ".abcde.c2ln", "JWT payload is not base64url"},
		{"jwt header not base64", "abcde." + b64(sampleCall) + ".c2ln", "JWT header is not base64url"},
		{"jwt header without alg", b64(`{"typ":"JWT"}`) + "." + b64(sampleCall) + ".c2ln", "JWT header has no alg"},
		{"jwt header empty alg", b64(`{"alg":""}`) + "." + b64(sampleCall) + ".c2ln", "JWT header has no alg"},
		{"jwt header not json", b64(`alg=HS256`) + "." + b64(sampleCall) + ".c2ln", "JWT header has no alg"},
		{"jwt payload not json", header + "." + b64("call_id=1") + ".c2ln", "JWT payload is not a JSON object"},
		{"jwt payload array", header + "." + b64("[1,2]") + ".c2ln", "JWT payload is not a JSON object"},
		{"jwt payload truncated json", header + "." + b64(`{"call_id":`) + ".c2ln", "JWT payload is not a JSON object"},
		// Past fastjson's 300 levels the frame is read again, down to 10000.
		{"deeply nested", `{"call_id":1,"x":` + strings.Repeat("[", 100000) + `}`, "JSON nested deeper than 10000 levels"},
		{"deeply nested jwt payload", header + "." + b64(`{"x":`+strings.Repeat("[", 100000)+`}`) + ".c2ln", "JSON nested deeper than 10000 levels"},
		{"nested past 300, then invalid", `{"call_id":1,"x":` + strings.Repeat("[", 400) + `}`, "invalid JSON"},
		{"nested past 300, not an object", strings.Repeat("[", 400) + strings.Repeat("]", 400), "neither a JSON object"},
		{"jwt payload nested past 300, not an object", header + "." + b64(strings.Repeat("[", 400)+strings.Repeat("]", 400)) + ".c2ln", "JWT payload is not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := classify([]byte(tt.frame), "")
			if err == nil {
				t.Fatalf("classify(%.40q) = %+v, want an error", tt.frame, got)
			}
			if !errors.Is(err, errNotEvent) {
				t.Errorf("error %q does not wrap errNotEvent", err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not say %q", err, tt.reason)
			}
			if n := len(err.Error()); n > 300 { // one log line's reason
				t.Errorf("error of %d bytes (%.80q…), want it short", n, err)
			}
		})
	}
}

// A frame that is a valid JSON object is an event (errNotEvent: "frames
// that are neither a JSON object nor a compact JWT"), even when a field the
// agent reads has a type it does not expect.
func TestClassifyKeepsObjectsWithUnexpectedFieldTypes(t *testing.T) {
	tests := []struct {
		frame string
		key   string
	}{
		{`{"call_id":123,"state":5}`, "call:123"},
		{`{"event":{"kind":"fax"},"id":9}`, "other"},
		{`{"id":11,"from_number":"+15550100400","target":[]}`, "sms:11"},
	}
	for _, tt := range tests {
		got, err := classify([]byte(tt.frame), "")
		if err != nil {
			t.Errorf("classify(%s): %v, want an event", tt.frame, err)
			continue
		}
		if got.key != tt.key {
			t.Errorf("classify(%s).key = %q, want %q", tt.frame, got.key, tt.key)
		}
	}
}

// The JWT payload must be a JSON object, like a plain frame.
func TestClassifyRejectsJWTWithNullPayload(t *testing.T) {
	tok := b64(`{"alg":"HS256"}`) + "." + b64("null") + ".c2ln"
	if got, err := classify([]byte(tok), ""); err == nil {
		t.Errorf("classify(JWT with payload null) = %+v, want an error", got)
	}
}

func FuzzClassify(f *testing.F) {
	for _, s := range []string{
		"", "hello", "[1,2]", "{", "{}", sampleCall, sampleSMS, sampleAgentStatus, sampleContact, sampleChangelog,
		mustSign(f, sampleCall, "test_secret"), "a.b.c", "..", "a..c", "e30.e30.e30", "eyJhbGciOiJub25lIn0.bnVsbA.x",
		" \t\r\n" + sampleCall, "\xef\xbb\xbf" + sampleSMS, "\xef\xbb\xbf\n{}",
	} {
		f.Add([]byte(s), "")
		f.Add([]byte(s), "call")
	}
	f.Fuzz(func(t *testing.T, data []byte, sourceType string) {
		orig := string(data)
		got, err := classify(data, sourceType)
		if string(data) != orig {
			t.Fatalf("classify modified its input")
		}
		if err != nil {
			if !errors.Is(err, errNotEvent) {
				t.Fatalf("error %q does not wrap errNotEvent", err)
			}
			return
		}
		if got.key == "" {
			t.Errorf("accepted frame %q has no key", data)
		}
		if sourceType != "" && got.typ != sourceType {
			t.Errorf("typ = %q, want the source type %q", got.typ, sourceType)
		}
		if got.jwt != (objectStart(data) < 0) {
			t.Errorf("jwt = %v for frame starting %.8q", got.jwt, data)
		}
	})
}

// BenchmarkClassify measures classifying one frame of each type (the
// sample payloads), as a reader does, with its own parser.
func BenchmarkClassify(b *testing.B) {
	var frames [][]byte
	for _, name := range []string{"call", "sms", "agent_status", "contact", "changelog"} {
		data, err := os.ReadFile(filepath.Join("testdata", "payloads", name+".json"))
		if err != nil {
			b.Fatal(err)
		}
		frames = append(frames, data)
	}
	var p fastjson.Parser
	b.ReportAllocs()
	for b.Loop() {
		for _, data := range frames {
			if _, err := classifyWith(&p, data, ""); err != nil {
				b.Fatal(err)
			}
		}
	}
}
