// Package migrate moves every event subscription of a Dialpad webhook to a
// websocket signed with the webhook's secret, so that the webhook's handler
// verifies forwarded events unchanged, and moves them back exactly from the
// rollback record it writes.
package migrate

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

// Snapshot is a subscription's settings and endpoint id, without the
// endpoint objects (so without secrets or websocket URL tokens).
type Snapshot struct {
	Type            dialpad.SubscriptionType `json:"type"`
	ID              dialpad.ID               `json:"id"`
	EndpointID      dialpad.ID               `json:"endpoint_id"`
	Enabled         bool                     `json:"enabled"`
	CallStates      []string                 `json:"call_states,omitempty"`
	GroupCallsOnly  bool                     `json:"group_calls_only,omitempty"`
	TargetType      string                   `json:"target_type,omitempty"`
	TargetID        dialpad.ID               `json:"target_id,omitempty"`
	Direction       string                   `json:"direction,omitempty"`
	IncludeInternal bool                     `json:"include_internal,omitempty"`
	Status          bool                     `json:"status,omitempty"`
	AgentType       string                   `json:"agent_type,omitempty"`
	ContactType     string                   `json:"contact_type,omitempty"`
}

// SnapshotOf captures s, a subscription of type typ.
func SnapshotOf(typ dialpad.SubscriptionType, s dialpad.Subscription) Snapshot {
	return Snapshot{
		Type: typ, ID: s.ID, EndpointID: s.EndpointID(), Enabled: s.Enabled,
		CallStates: slices.Clone(s.CallStates), GroupCallsOnly: s.GroupCallsOnly,
		TargetType: s.TargetType, TargetID: s.TargetID,
		Direction: s.Direction, IncludeInternal: s.IncludeInternal, Status: s.Status,
		AgentType: s.AgentType, ContactType: s.ContactType,
	}
}

// String names the subscription, e.g. "call subscription 1001".
func (s Snapshot) String() string { return fmt.Sprintf("%s subscription %s", s.Type, s.ID) }

// Differences lists the fields (JSON names) in which other differs from s,
// the endpoint included.
func (s Snapshot) Differences(other Snapshot) []string {
	var out []string
	a, b := reflect.ValueOf(s), reflect.ValueOf(other)
	for i := range a.NumField() {
		if !reflect.DeepEqual(normal(a.Field(i).Interface()), normal(b.Field(i).Interface())) {
			name, _, _ := strings.Cut(a.Type().Field(i).Tag.Get("json"), ",")
			out = append(out, fmt.Sprintf("%s: %v → %v", name, a.Field(i).Interface(), b.Field(i).Interface()))
		}
	}
	return out
}

// normal treats a nil and an empty list alike.
func normal(v any) any {
	if l, ok := v.([]string); ok && len(l) == 0 {
		return []string(nil)
	}
	return v
}

// repoint is the PATCH that moves a subscription to endpoint and changes
// nothing else; contact subscriptions must repeat their contact_type.
func repoint(s Snapshot, endpoint dialpad.ID) dialpad.SubscriptionRequest {
	r := dialpad.SubscriptionRequest{EndpointID: &endpoint}
	if s.Type == dialpad.Contact {
		r.ContactType = s.ContactType
	}
	return r
}
