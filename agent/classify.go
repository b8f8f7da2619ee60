package agent

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/dialpad-tunnel/dialpad-tunnel/console"
	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
	"github.com/valyala/fastjson"
	"strings"
)

// frame is what the agent learned from one websocket message without
// changing it: its form, its event type and the key that orders it.
type frame struct {
	jwt    bool
	typ    string // call, sms, agent_status, contact, changelog or "" when unknown
	key    string // ordering key, see orderKey
	detail string // call state, SMS status, … for the log line
}

// errNotEvent is wrapped by classify for frames that are neither a JSON
// object nor a compact JWT.
var errNotEvent = errors.New("not an event")

// classify inspects one frame. sourceType is the event type of a
// subscription-scoped connection, or "" for a websocket-scoped one.
func classify(data []byte, sourceType string) (frame, error) {
	var p fastjson.Parser
	return classifyWith(&p, data, sourceType)
}

// classifyWith is classify with a parser the caller reuses (one per
// reader goroutine: a Parser is not safe for concurrent use).
func classifyWith(p *fastjson.Parser, data []byte, sourceType string) (frame, error) {
	payload := data
	var f frame
	start := objectStart(data)
	switch {
	case len(data) == 0:
		return f, fmt.Errorf("%w: empty frame", errNotEvent)
	case start >= 0:
		// Parse from the brace; the frame itself is forwarded as is,
		// byte order mark and whitespace included.
		payload = data[start:]
	case looksLikeJWT(signing.TrimSpace(data)):
		// Whitespace around it (a newline after it, say) is allowed and
		// forwarded as is, as around a JSON object.
		f.jwt = true
		var err error
		payload, err = jwtPayload(signing.TrimSpace(data))
		if err != nil {
			return f, err
		}
	default:
		return f, fmt.Errorf("%w: neither a JSON object nor a compact JWT", errNotEvent)
	}
	v, err := p.ParseBytes(payload)
	if isDepthError(err) {
		v, err = parseDeep(p, payload)
	}
	switch {
	case errors.Is(err, errTooDeep):
		return f, fmt.Errorf("%w: %w", errNotEvent, err)
	case err != nil && f.jwt:
		return f, fmt.Errorf("%w: JWT payload is not a JSON object: %s", errNotEvent, clip(err.Error()))
	case err != nil:
		return f, fmt.Errorf("%w: invalid JSON: %s", errNotEvent, clip(err.Error()))
	case v.Type() != fastjson.TypeObject && f.jwt:
		return f, fmt.Errorf("%w: JWT payload is not a JSON object", errNotEvent)
	case v.Type() != fastjson.TypeObject:
		return f, fmt.Errorf("%w: not a JSON object", errNotEvent)
	}
	f.typ = sourceType
	if f.typ == "" {
		f.typ = eventType(v)
	}
	f.key, f.detail = orderKey(v, f.typ)
	return f, nil
}

// maxReason is the most of a parse error's text kept in a reason: the
// parser quotes the unparsed rest of the frame, which may be most of it.
const maxReason = 200

// clip cuts s to maxReason bytes, on a rune boundary, marking the cut.
func clip(s string) string { return console.Clip(s, maxReason) }

// utf8BOM is the UTF-8 byte order mark, which RFC 8259 §8.1 lets a parser
// ignore before a JSON text.
var utf8BOM = []byte("\xef\xbb\xbf")

// objectStart returns the offset of the '{' that opens a JSON object frame,
// after an optional UTF-8 byte order mark and JSON whitespace (space, tab,
// CR, LF: RFC 8259 §2), or -1 when the frame does not open an object.
func objectStart(data []byte) int {
	i := 0
	if bytes.HasPrefix(data, utf8BOM) {
		i = len(utf8BOM)
	}
	for ; i < len(data); i++ {
		switch data[i] {
		case ' ', '\t', '\r', '\n':
		case '{':
			return i
		default:
			return -1
		}
	}
	return -1
}

// eventType guesses the event type of a websocket-scoped frame from the
// fields that only one type carries. A field of an unexpected JSON type is
// ignored rather than making a valid event unreadable.
func eventType(v *fastjson.Value) string {
	switch {
	case v.Get("call_id") != nil: // null too: a call all the same, keyed other:call
		return "call"
	case present(v, "on_duty_status") || present(v, "availability_status"):
		return "agent_status"
	case hasStr(v, "event") && hasID(v, "contact", "id"):
		return "contact"
	case hasStr(v, "action") && (present(v, "changed_by") || isObject(v, "target")):
		// changed_by is null or left out for Dialpad's own staff: the
		// target still says it is a change log (a call, which has a
		// target too, was told by its call_id above).
		return "changelog"
	case present(v, "from_number") || hasStr(v, "message_status"):
		return "sms"
	}
	return ""
}

// orderKey returns the key whose events must be delivered in arrival order,
// and a short description for logs. Calls order by call id, SMS by message
// id, agent status by agent, contacts by contact id; change-log and
// unrecognised events each share one lane in arrival order.
func orderKey(v *fastjson.Value, typ string) (key, detail string) {
	switch typ {
	case "call":
		if k := idKey("call:", v, "call_id"); k != "" {
			return k, str(v, "state")
		}
	case "sms":
		if k := idKey("sms:", v, "id"); k != "" {
			return k, str(v, "message_status")
		}
	case "agent_status":
		if k := idKey("agent:", v, "target", "id"); k != "" {
			return k, str(v, "on_duty_status")
		}
	case "contact":
		if k := idKey("contact:", v, "contact", "id"); k != "" {
			return k, str(v, "event")
		}
	case "changelog":
		return "changelog", str(v, "action")
	}
	return otherKey(typ), ""
}

// otherKey is the one lane of the events of type typ that have no key of
// their own: "other:<type>", or "other" when the type is not known either
// (older spools hold "other:" for that).
func otherKey(typ string) string {
	if typ == "" {
		return "other"
	}
	return "other:" + typ
}

// present reports whether the field is there and not null.
func present(v *fastjson.Value, path ...string) bool {
	f := v.Get(path...)
	return f != nil && f.Type() != fastjson.TypeNull
}

// isObject reports whether the field is a JSON object.
func isObject(v *fastjson.Value, path ...string) bool {
	f := v.Get(path...)
	return f != nil && f.Type() == fastjson.TypeObject
}

// str returns the field's text when it is a JSON string, else "".
func str(v *fastjson.Value, path ...string) string {
	f := v.Get(path...)
	if f == nil || f.Type() != fastjson.TypeString {
		return ""
	}
	return string(f.GetStringBytes())
}

// hasStr reports whether str would return more than "", allocating
// nothing.
func hasStr(v *fastjson.Value, path ...string) bool {
	f := v.Get(path...)
	return f != nil && f.Type() == fastjson.TypeString && len(f.GetStringBytes()) > 0
}

// hasID reports whether the field is an id (see idKey), allocating nothing.
func hasID(v *fastjson.Value, path ...string) bool {
	f := v.Get(path...)
	if f == nil {
		return false
	}
	switch f.Type() {
	case fastjson.TypeNumber:
		return true // a number is never written as ""
	case fastjson.TypeString:
		return len(f.GetStringBytes()) > 0
	}
	return false
}

// idKey returns prefix followed by an id field as text, every digit kept:
// a JSON number as written, or a JSON string; "" for anything else, or an
// empty string. A string id takes one allocation (the concatenation reads
// its bytes in place), a number two: one fewer than making the id, then
// the key.
func idKey(prefix string, v *fastjson.Value, path ...string) string {
	f := v.Get(path...)
	if f == nil {
		return ""
	}
	switch f.Type() {
	case fastjson.TypeNumber:
		return prefix + f.String() // as written, as MarshalTo gives it
	case fastjson.TypeString:
		if b := f.GetStringBytes(); len(b) > 0 {
			return prefix + string(b)
		}
	}
	return ""
}

// looksLikeJWT reports whether data has the shape of a compact JWS: three
// base64url segments separated by dots, the first two non-empty.
func looksLikeJWT(data []byte) bool {
	dots := 0
	segLen := 0
	for _, b := range data {
		switch {
		case b == '.':
			if segLen == 0 {
				return false
			}
			dots++
			segLen = 0
		case b >= 'A' && b <= 'Z', b >= 'a' && b <= 'z', b >= '0' && b <= '9', b == '-', b == '_':
			segLen++
		default:
			return false
		}
	}
	// An unsecured JWT (alg "none") has an empty signature: it is still a
	// JWT, for the signature check to refuse by name.
	return dots == 2
}

// jwtPayload decodes the middle segment of a compact JWT without verifying
// it; the header must name an algorithm.
func jwtPayload(data []byte) ([]byte, error) {
	if data[len(data)-1] == '.' && !unsecured(data) {
		return nil, fmt.Errorf("%w: JWT has an empty signature (truncated?)", errNotEvent)
	}
	payload, err := signing.Payload(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", errNotEvent, signing.Reason(err))
	}
	return payload, nil
}

// unsecured reports whether a JWT's header says alg "none" (any case).
func unsecured(data []byte) bool {
	header, _, _ := bytes.Cut(data, []byte("."))
	raw, err := base64.RawURLEncoding.AppendDecode(nil, header)
	if err != nil {
		return false
	}
	var h struct {
		Alg string `json:"alg"`
	}
	return json.Unmarshal(raw, &h) == nil && strings.EqualFold(h.Alg, "none")
}
