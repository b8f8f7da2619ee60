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
// describe an event. Ids stay raw so that large numbers are never rounded.
type eventFields struct {
	CallID        json.RawMessage `json:"call_id"`
	State         string          `json:"state"`
	ID            json.RawMessage `json:"id"`
	FromNumber    json.RawMessage `json:"from_number"`
	MessageStatus string          `json:"message_status"`
	OnDutyStatus  *string         `json:"on_duty_status"`
	Availability  *string         `json:"availability_status"`
	Event         string          `json:"event"`
	Action        string          `json:"action"`
	ChangedBy     json.RawMessage `json:"changed_by"`
	Target        struct {
		ID json.RawMessage `json:"id"`
	} `json:"target"`
	Contact struct {
		ID json.RawMessage `json:"id"`
	} `json:"contact"`
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
	case len(ev.CallID) > 0:
		return "call"
	case ev.OnDutyStatus != nil || ev.Availability != nil:
		return "agent_status"
	case ev.Event != "" && len(ev.Contact.ID) > 0:
		return "contact"
	case ev.Action != "" && len(ev.ChangedBy) > 0:
		return "changelog"
	case len(ev.FromNumber) > 0 || ev.MessageStatus != "":
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
			return "call:" + id, ev.State
		}
	case "sms":
		if id := rawID(ev.ID); id != "" {
			return "sms:" + id, ev.MessageStatus
		}
	case "agent_status":
		if id := rawID(ev.Target.ID); id != "" {
			detail := ""
			if ev.OnDutyStatus != nil {
				detail = *ev.OnDutyStatus
			}
			return "agent:" + id, detail
		}
	case "contact":
		if id := rawID(ev.Contact.ID); id != "" {
			return "contact:" + id, ev.Event
		}
	case "changelog":
		return "changelog", ev.Action
	}
	return "other:" + typ, ""
}

// rawID turns a raw JSON id (number or string) into its text, or "".
func rawID(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return s
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
