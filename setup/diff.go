package setup

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

// Diff lists how cur differs from the normalized spec delivering to
// endpoint (0: a websocket not created yet). recreate reports a difference
// a PATCH cannot make: clearing the target of a call or SMS subscription.
func Diff(spec SubscriptionSpec, cur dialpad.Subscription, endpoint dialpad.ID) (changes []string, recreate bool) {
	add := func(field string, from, to any) {
		changes = append(changes, fmt.Sprintf("%s: %v → %v", field, from, to))
	}
	if got := cur.EndpointID(); endpoint == 0 || got != endpoint {
		to := "new websocket"
		if endpoint != 0 {
			to = "websocket " + endpoint.String()
		}
		add("endpoint", endpointText(cur), to)
	}
	if cur.Enabled != *spec.Enabled {
		add("enabled", cur.Enabled, *spec.Enabled)
	}
	switch spec.Type {
	case dialpad.Call:
		if !sameSet(cur.CallStates, spec.CallStates) {
			add("call_states", listText(cur.CallStates), listText(spec.CallStates))
		}
		if cur.GroupCallsOnly != spec.GroupCallsOnly {
			add("group_calls_only", cur.GroupCallsOnly, spec.GroupCallsOnly)
		}
	case dialpad.SMS:
		if cur.Direction != spec.Direction {
			add("direction", cur.Direction, spec.Direction)
		}
		if cur.IncludeInternal != spec.IncludeInternal {
			add("include_internal", cur.IncludeInternal, spec.IncludeInternal)
		}
		if cur.Status != spec.DeliveryStatus {
			add("delivery_status", cur.Status, spec.DeliveryStatus)
		}
	case dialpad.AgentStatus:
		if cur.AgentType != spec.AgentType {
			add("agent_type", cur.AgentType, spec.AgentType)
		}
	case dialpad.Contact:
		if cur.ContactType != spec.ContactType {
			add("contact_type", cur.ContactType, spec.ContactType)
		}
	}
	if cur.TargetType != spec.TargetType || cur.TargetID != spec.TargetID {
		add("target", targetText(cur.TargetType, cur.TargetID), targetText(spec.TargetType, spec.TargetID))
		recreate = spec.TargetID == 0
	}
	return changes, recreate
}

func endpointText(s dialpad.Subscription) string {
	if e := s.Endpoint(); e != "" {
		return e
	}
	return "none"
}

func targetText(typ string, id dialpad.ID) string {
	if id == 0 {
		return "company-wide"
	}
	return typ + " " + id.String()
}

func listText(l []string) string { return "[" + strings.Join(l, ",") + "]" }

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
