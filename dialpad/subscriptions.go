package dialpad

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// SubscriptionType names an event subscription resource,
// /api/v2/subscriptions/<type>.
type SubscriptionType string

// The subscription types of the Dialpad API.
const (
	Call        SubscriptionType = "call"
	SMS         SubscriptionType = "sms"
	AgentStatus SubscriptionType = "agent_status"
	Contact     SubscriptionType = "contact"
	Changelog   SubscriptionType = "changelog"
)

// SubscriptionTypes returns every subscription type, in a fixed order.
func SubscriptionTypes() []SubscriptionType {
	return []SubscriptionType{Call, SMS, AgentStatus, Contact, Changelog}
}

// CallStates are the states a call subscription may list in call_states
// ("all" means every state): API.md §3's enum (export S1; the newer S2
// drops eavesdrop).
func CallStates() []string {
	return []string{"admin", "admin_recording", "ai_playbook", "all", "barge", "blocked",
		"call_transcription", "calling", "connected", "csat", "dispositions", "eavesdrop", "hangup",
		"hold", "merged", "missed", "monitor", "parked", "pcsat", "postcall", "preanswer", "queued",
		"recap_action_items", "recap_outcome", "recap_purposes", "recap_summary", "recording",
		"ringing", "takeover", "transcription", "voicemail", "voicemail_uploaded"}
}

// TargetTypes are the values target_type may take in a call or SMS
// subscription (with target_id): API.md §3's enum. Without a target the
// subscription is company-wide.
func TargetTypes() []string {
	return []string{"callcenter", "callrouter", "channel", "coachinggroup", "coachingteam",
		"department", "office", "room", "staffgroup", "unknown", "user"}
}

// ParseSubscriptionType parses a type name such as "call" or "agent_status"
// (case-insensitive; "agent-status" is accepted too).
func ParseSubscriptionType(s string) (SubscriptionType, error) {
	norm := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_")
	for _, t := range SubscriptionTypes() {
		if string(t) == norm {
			return t, nil
		}
	}
	return "", fmt.Errorf("dialpad: unknown subscription type %q (want one of %s)", clip(s, 40), typeList())
}

func typeList() string {
	names := make([]string, 0, 5)
	for _, t := range SubscriptionTypes() {
		names = append(names, string(t))
	}
	return strings.Join(names, ", ")
}

func (t SubscriptionType) valid() bool {
	for _, k := range SubscriptionTypes() {
		if t == k {
			return true
		}
	}
	return false
}

// Subscription is an event subscription as Dialpad returns it: the
// *EventSubscriptionProto of every type in one struct. Fields that do not
// belong to the type stay zero. Exactly one of Webhook and Websocket is set;
// a Websocket fetched here carries a websocket_url scoped to this one
// subscription.
type Subscription struct {
	ID      ID   `json:"id"`
	Enabled bool `json:"enabled"`

	// call
	CallStates     []string `json:"call_states,omitempty"`
	GroupCallsOnly bool     `json:"group_calls_only,omitempty"`
	// call and sms
	TargetType string `json:"target_type,omitempty"`
	TargetID   ID     `json:"target_id,omitempty"`
	// sms
	Direction       string `json:"direction,omitempty"`
	IncludeInternal bool   `json:"include_internal,omitempty"`
	Status          bool   `json:"status,omitempty"`
	// agent_status
	AgentType string `json:"agent_type,omitempty"`
	// contact
	ContactType string `json:"contact_type,omitempty"`

	Webhook   *Webhook   `json:"webhook,omitempty"`
	Websocket *Websocket `json:"websocket,omitempty"`
}

// EndpointID returns the id of the webhook or websocket the subscription
// delivers to, 0 when the response named neither.
func (s Subscription) EndpointID() ID {
	return s.endpoint().id
}

// Endpoint names what the subscription delivers to, e.g. "websocket 1000"
// or "webhook 1001"; "" when neither is set.
func (s Subscription) Endpoint() string {
	e := s.endpoint()
	if e.kind == "" {
		return ""
	}
	return e.kind + " " + e.id.String()
}

type endpointRef struct {
	kind string
	id   ID
}

func (s Subscription) endpoint() endpointRef {
	switch {
	case s.Websocket != nil:
		return endpointRef{"websocket", s.Websocket.ID}
	case s.Webhook != nil:
		return endpointRef{"webhook", s.Webhook.ID}
	}
	return endpointRef{}
}

// SubscriptionRequest is the body of a subscription create or update
// (Create*/Update*EventSubscription). Nil and empty fields are omitted, so an
// update changes only what is set. EndpointID takes a webhook or a websocket
// id. Required by the API: Direction for sms, AgentType ("callcenter") for
// agent_status, ContactType ("local" or "shared") for contact, on create and,
// for contact, on update too.
type SubscriptionRequest struct {
	EndpointID      *ID      `json:"endpoint_id,omitempty"`
	Enabled         *bool    `json:"enabled,omitempty"`
	CallStates      []string `json:"call_states,omitempty"`
	GroupCallsOnly  *bool    `json:"group_calls_only,omitempty"`
	TargetType      string   `json:"target_type,omitempty"`
	TargetID        *ID      `json:"target_id,omitempty"`
	Direction       string   `json:"direction,omitempty"`
	IncludeInternal *bool    `json:"include_internal,omitempty"`
	Status          *bool    `json:"status,omitempty"`
	AgentType       string   `json:"agent_type,omitempty"`
	ContactType     string   `json:"contact_type,omitempty"`
}

// subscriptionCall checks typ and returns the op name and the path for a call
// on one subscription (one) or on the collection.
func subscriptionCall(verb string, typ SubscriptionType, id ID, one bool) (op, path string, err error) {
	if !one {
		op = verb + " " + string(typ) + " subscription"
		path = "/subscriptions/" + string(typ)
	} else {
		op = verb + " " + string(typ) + " subscription " + id.String()
		path = "/subscriptions/" + string(typ) + "/" + id.String()
	}
	if !typ.valid() {
		return op, path, errf(op, fmt.Errorf("unknown subscription type %q (want one of %s)", clip(string(typ), 40), typeList()))
	}
	return op, path, nil
}

// CreateSubscription creates a subscription of type typ. The request is never
// retried.
func (c *Client) CreateSubscription(ctx context.Context, typ SubscriptionType, req SubscriptionRequest) (Subscription, error) {
	var s Subscription
	op, path, err := subscriptionCall("create", typ, 0, false)
	if err != nil {
		return s, err
	}
	err = c.do(ctx, op, http.MethodPost, path, nil, req, &s)
	return s, err
}

// ListSubscriptions returns every subscription of type typ.
func (c *Client) ListSubscriptions(ctx context.Context, typ SubscriptionType) ([]Subscription, error) {
	op, path, err := subscriptionCall("list", typ, 0, false)
	if err != nil {
		return nil, err
	}
	return listAll[Subscription](ctx, c, op+"s", path)
}

// Subscription fetches one subscription. When it delivers to a websocket,
// the embedded Websocket.URL is scoped to this subscription only; connect to
// the endpoint-level URL from Client.Websocket instead.
func (c *Client) Subscription(ctx context.Context, typ SubscriptionType, id ID) (Subscription, error) {
	var s Subscription
	op, path, err := subscriptionCall("get", typ, id, true)
	if err != nil {
		return s, err
	}
	err = c.do(ctx, op, http.MethodGet, path, nil, nil, &s)
	return s, err
}

// UpdateSubscription changes the fields set in req; setting EndpointID
// re-pairs the subscription with another webhook or websocket.
func (c *Client) UpdateSubscription(ctx context.Context, typ SubscriptionType, id ID, req SubscriptionRequest) (Subscription, error) {
	var s Subscription
	op, path, err := subscriptionCall("update", typ, id, true)
	if err != nil {
		return s, err
	}
	err = c.do(ctx, op, http.MethodPatch, path, nil, req, &s)
	return s, err
}

// DeleteSubscription deletes a subscription and returns it as it was.
func (c *Client) DeleteSubscription(ctx context.Context, typ SubscriptionType, id ID) (Subscription, error) {
	var s Subscription
	op, path, err := subscriptionCall("delete", typ, id, true)
	if err != nil {
		return s, err
	}
	err = c.do(ctx, op, http.MethodDelete, path, nil, nil, &s)
	if err == nil && s.ID == 0 {
		s.ID = id
	}
	return s, err
}
