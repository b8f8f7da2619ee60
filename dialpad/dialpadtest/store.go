package dialpadtest

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

// websocketEP is a websocket endpoint (/api/v2/websockets).
type websocketEP struct {
	id     int64
	secret string
}

// webhookEP is a webhook endpoint (/api/v2/webhooks).
type webhookEP struct {
	id      int64
	hookURL string
	secret  string
}

// subscription is an event subscription of one type, linked to a websocket
// or a webhook by endpointID.
type subscription struct {
	id              int64
	typ             string
	endpointID      int64
	enabled         bool
	callStates      []string
	groupCallsOnly  bool
	targetType      string
	targetID        int64
	direction       string
	includeInternal bool
	status          bool
	agentType       string
	contactType     string
}

// SubscriptionOptions are the type-specific fields of a subscription made
// with AddSubscription. Fields that do not apply to the type are ignored.
type SubscriptionOptions struct {
	CallStates      []string // call; nil means ["all"]
	Direction       string   // sms; "" means "all"
	AgentType       string   // agent_status; "" means "callcenter"
	ContactType     string   // contact; "" means "shared"
	GroupCallsOnly  bool     // call
	TargetType      string   // call, sms
	TargetID        int64    // call, sms
	IncludeInternal bool     // sms
	Status          bool     // sms: also deliver delivery-status events
	Disabled        bool     // the subscription is created with enabled false
}

// Event types, which are also the subscription path segments.
var eventTypes = []string{"call", "sms", "agent_status", "contact", "changelog"}

var (
	callStates   = dialpad.CallStates()
	targetTypes  = dialpad.TargetTypes()
	directions   = []string{"all", "inbound", "outbound"}
	agentTypes   = []string{"callcenter"}
	contactTypes = []string{"local", "shared"}
)

func validType(typ string) bool { return slices.Contains(eventTypes, typ) }

// AddWebsocket creates a websocket endpoint without REST and returns its id.
// secret "" means frames are sent as plain JSON.
func (s *Server) AddWebsocket(secret string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newID()
	s.websockets[id] = &websocketEP{id: id, secret: secret}
	return id
}

// AddWebhook creates a webhook endpoint without REST and returns its id.
func (s *Server) AddWebhook(hookURL, secret string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newID()
	s.webhooks[id] = &webhookEP{id: id, hookURL: hookURL, secret: secret}
	return id
}

// AddSubscription creates an event subscription of type typ (call, sms,
// agent_status, contact or changelog) for the websocket or webhook
// endpointID without REST and returns its id. Unset required fields get
// defaults (see SubscriptionOptions); invalid values are an error.
func (s *Server) AddSubscription(typ string, endpointID int64, opts SubscriptionOptions) (int64, error) {
	if !validType(typ) {
		return 0, fmt.Errorf("dialpadtest: unknown subscription type %q", typ)
	}
	sub := &subscription{
		typ:             typ,
		endpointID:      endpointID,
		enabled:         !opts.Disabled,
		callStates:      slices.Clone(opts.CallStates),
		groupCallsOnly:  opts.GroupCallsOnly,
		targetType:      opts.TargetType,
		targetID:        opts.TargetID,
		direction:       opts.Direction,
		includeInternal: opts.IncludeInternal,
		status:          opts.Status,
		agentType:       opts.AgentType,
		contactType:     opts.ContactType,
	}
	if typ == "call" && sub.callStates == nil {
		sub.callStates = []string{"all"}
	}
	if typ == "sms" && sub.direction == "" {
		sub.direction = "all"
	}
	if typ == "agent_status" && sub.agentType == "" {
		sub.agentType = "callcenter"
	}
	if typ == "contact" && sub.contactType == "" {
		sub.contactType = "shared"
	}
	if err := validateSubscription(sub); err != nil {
		return 0, fmt.Errorf("dialpadtest: add %s subscription: %w", typ, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.endpointExists(endpointID) {
		return 0, fmt.Errorf("dialpadtest: add %s subscription: endpoint %d: %w", typ, endpointID, errNotFound)
	}
	sub.id = s.newID()
	s.subs[sub.id] = sub
	return sub.id, nil
}

// WebsocketURL issues a fresh websocket-scoped URL for websocketID, as GET
// /api/v2/websockets/{id} does.
func (s *Server) WebsocketURL(websocketID int64) (string, error) {
	s.mu.Lock()
	_, ok := s.websockets[websocketID]
	s.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("dialpadtest: websocket %d: %w", websocketID, errNotFound)
	}
	return s.websocketURL(websocketID, "", 0), nil
}

// validateSubscription checks the enums and required fields of sub.
func validateSubscription(sub *subscription) error {
	check := func(field, v string, allowed []string) error {
		if !slices.Contains(allowed, v) {
			return fmt.Errorf("invalid %s %q", field, v)
		}
		return nil
	}
	switch sub.typ {
	case "call":
		for _, st := range sub.callStates {
			if err := check("call_states", st, callStates); err != nil {
				return err
			}
		}
	case "sms":
		if err := check("direction", sub.direction, directions); err != nil {
			return err
		}
	case "agent_status":
		return check("agent_type", sub.agentType, agentTypes)
	case "contact":
		return check("contact_type", sub.contactType, contactTypes)
	}
	if sub.targetType != "" && (sub.typ == "call" || sub.typ == "sms") {
		return check("target_type", sub.targetType, targetTypes)
	}
	return nil
}

// newID issues the next id; s.mu must be held. Websockets, webhooks and
// subscriptions share the counter, so an endpoint id names one endpoint.
func (s *Server) newID() int64 {
	id := s.nextID
	s.nextID++
	return id
}

// endpointExists reports whether id is a websocket or webhook; s.mu must be
// held.
func (s *Server) endpointExists(id int64) bool {
	return s.websockets[id] != nil || s.webhooks[id] != nil
}

// sortedIDs returns the keys of m in increasing order.
func sortedIDs[V any](m map[int64]V) []int64 {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func idString(id int64) string { return strconv.FormatInt(id, 10) }

// EventTypes returns the subscription types the fake serves.
func EventTypes() []string { return []string{"call", "sms", "agent_status", "contact", "changelog"} }

// AddWebsocketForAll adds a websocket with the given secret ("" for plain
// JSON frames) and subscribes it to every event type with default options:
// the setup of the demo, the emulator, soak and bench.
func (s *Server) AddWebsocketForAll(secret string) (int64, error) {
	id := s.AddWebsocket(secret)
	for _, typ := range EventTypes() {
		if _, err := s.AddSubscription(typ, id, SubscriptionOptions{}); err != nil {
			return 0, err
		}
	}
	return id, nil
}
