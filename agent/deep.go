package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/valyala/fastjson"
)

// The parser that reads every frame stops at fastjson.MaxDepth (300
// levels). An event nested deeper (a change log's free-form
// additional_data, say) is an event all the same: it is read again with
// encoding/json, which goes down to 10,000 levels (what many handlers
// read), for the members its type and key come from. The frame itself is
// forwarded as it came.

// errTooDeep says why a frame deeper than encoding/json reads is no event.
var errTooDeep = errors.New("JSON nested deeper than 10000 levels")

// isDepthError reports whether a fastjson parse error is its depth limit
// rather than invalid JSON.
func isDepthError(err error) bool {
	return err != nil && strings.Contains(err.Error(), "too big depth")
}

// parseDeep parses payload, which fastjson found too deep, into what
// eventType and orderKey read: its top-level members, with each object
// among them cut to its own scalar members, and every array (or object
// further down) as []. A payload that is valid JSON but no object parses
// as null, so that the caller says it is not one.
func parseDeep(p *fastjson.Parser, payload []byte) (*fastjson.Value, error) {
	var top map[string]json.RawMessage
	err := json.Unmarshal(payload, &top)
	var notObject *json.UnmarshalTypeError
	switch {
	case errors.As(err, &notObject):
		return p.Parse("null")
	case err != nil && strings.Contains(err.Error(), "exceeded max depth"):
		return nil, errTooDeep
	case err != nil:
		return nil, err
	case top == nil: // the JSON null
		return p.Parse("null")
	}
	shallow := make(map[string]json.RawMessage, len(top))
	for name, raw := range top {
		switch raw[0] {
		case '[':
			shallow[name] = json.RawMessage("[]")
		case '{':
			var inner map[string]json.RawMessage
			if err := json.Unmarshal(raw, &inner); err != nil {
				return nil, err
			}
			for k, v := range inner {
				if v[0] == '{' || v[0] == '[' {
					inner[k] = json.RawMessage("[]")
				}
			}
			b, err := json.Marshal(inner)
			if err != nil {
				return nil, err
			}
			shallow[name] = b
		default:
			shallow[name] = raw
		}
	}
	b, err := json.Marshal(shallow)
	if err != nil {
		return nil, fmt.Errorf("re-encoding a deep event's members: %w", err)
	}
	return p.ParseBytes(b)
}
