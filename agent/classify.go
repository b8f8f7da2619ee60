package agent

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// frame is what the agent learned from one websocket message without
// changing it: its form, its event type and the key that orders it.
type frame struct {
	jwt    bool
	typ    string // call, sms, agent_status, contact, changelog or "" when unknown
	key    string // ordering key, see orderKey
	detail string // call state, SMS status, … for the log line
}

// eventFields are the payload fields the agent reads to type, order and
// describe an event. Every field stays raw: a field of an unexpected type
// is ignored rather than making a valid event unreadable, and ids are never
// rounded.
type eventFields struct {
	CallID        json.RawMessage `json:"call_id"`
	State         json.RawMessage `json:"state"`
	ID            json.RawMessage `json:"id"`
	FromNumber    json.RawMessage `json:"from_number"`
	MessageStatus json.RawMessage `json:"message_status"`
	OnDutyStatus  json.RawMessage `json:"on_duty_status"`
	Availability  json.RawMessage `json:"availability_status"`
	Event         json.RawMessage `json:"event"`
	Action        json.RawMessage `json:"action"`
	ChangedBy     json.RawMessage `json:"changed_by"`
	Target        json.RawMessage `json:"target"`
	Contact       json.RawMessage `json:"contact"`
}

// errNotEvent is wrapped by classify for frames that are neither a JSON
// object nor a compact JWT.
var errNotEvent = errors.New("not an event")

// classify inspects one frame. sourceType is the event type of a
// subscription-scoped connection, or "" for a websocket-scoped one.
func classify(data []byte, sourceType string) (frame, error) {
	payload := data
	var f frame
	switch {
	case len(data) == 0:
		return f, fmt.Errorf("%w: empty frame", errNotEvent)
	case data[0] == '{':
	case looksLikeJWT(data):
		f.jwt = true
		var err error
		payload, err = jwtPayload(data)
		if err != nil {
			return f, err
		}
	default:
		return f, fmt.Errorf("%w: neither a JSON object nor a compact JWT", errNotEvent)
	}
	var ev eventFields
	if p := bytes.TrimLeft(payload, " \t\r\n"); len(p) == 0 || p[0] != '{' {
		if f.jwt {
			return f, fmt.Errorf("%w: JWT payload is not a JSON object", errNotEvent)
		}
		return f, fmt.Errorf("%w: not a JSON object", errNotEvent)
	}
	if err := json.Unmarshal(payload, &ev); err != nil {
		if f.jwt {
			return f, fmt.Errorf("%w: JWT payload is not a JSON object: %v", errNotEvent, err)
		}
		return f, fmt.Errorf("%w: invalid JSON: %v", errNotEvent, err)
	}
	f.typ = sourceType
	if f.typ == "" {
		f.typ = ev.eventType()
	}
	f.key, f.detail = ev.orderKey(f.typ)
	return f, nil
}

// eventType guesses the event type of a websocket-scoped frame from the
// fields that only one type carries.
func (ev *eventFields) eventType() string {
	switch {
	case present(ev.CallID):
		return "call"
	case present(ev.OnDutyStatus) || present(ev.Availability):
		return "agent_status"
	case str(ev.Event) != "" && rawID(nestedID(ev.Contact)) != "":
		return "contact"
	case str(ev.Action) != "" && present(ev.ChangedBy):
		return "changelog"
	case present(ev.FromNumber) || str(ev.MessageStatus) != "":
		return "sms"
	}
	return ""
}

// orderKey returns the key whose events must be delivered in arrival order,
// and a short description for logs. Calls order by call id, SMS by message
// id, agent status by agent, contacts by contact id; change-log and
// unrecognised events each share one lane in arrival order.
func (ev *eventFields) orderKey(typ string) (key, detail string) {
	switch typ {
	case "call":
		if id := rawID(ev.CallID); id != "" {
			return "call:" + id, str(ev.State)
		}
	case "sms":
		if id := rawID(ev.ID); id != "" {
			return "sms:" + id, str(ev.MessageStatus)
		}
	case "agent_status":
		if id := rawID(nestedID(ev.Target)); id != "" {
			return "agent:" + id, str(ev.OnDutyStatus)
		}
	case "contact":
		if id := rawID(nestedID(ev.Contact)); id != "" {
			return "contact:" + id, str(ev.Event)
		}
	case "changelog":
		return "changelog", str(ev.Action)
	}
	return "other:" + typ, ""
}

// present reports whether a field is there and not null.
func present(raw json.RawMessage) bool {
	return len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
}

// str returns a raw field's text when it is a JSON string, else "".
func str(raw json.RawMessage) string {
	if len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// nestedID returns the raw "id" of a JSON object field, or nil.
func nestedID(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	var o struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(raw, &o) != nil {
		return nil
	}
	return o.ID
}

// rawID turns a raw JSON id (number or string) into its text, or "".
func rawID(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return ""
	}
	if raw[0] == '"' {
		return str(raw)
	}
	if raw[0] == '{' || raw[0] == '[' || raw[0] == 't' || raw[0] == 'f' {
		return "" // not an id
	}
	return string(raw)
}

// looksLikeJWT reports whether data has the shape of a compact JWS: three
// non-empty base64url segments separated by dots.
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
	return dots == 2 && segLen > 0
}

// jwtPayload decodes the middle segment of a compact JWT without verifying
// it; the header must name an algorithm.
func jwtPayload(data []byte) ([]byte, error) {
	parts := bytes.SplitN(data, []byte("."), 3)
	header, err := base64.RawURLEncoding.AppendDecode(nil, parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: JWT header is not base64url: %v", errNotEvent, err)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(header, &h) != nil || h.Alg == "" {
		return nil, fmt.Errorf("%w: JWT header has no alg", errNotEvent)
	}
	payload, err := base64.RawURLEncoding.AppendDecode(nil, parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: JWT payload is not base64url: %v", errNotEvent, err)
	}
	return payload, nil
}
