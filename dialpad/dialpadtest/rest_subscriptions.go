package dialpadtest

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/gorilla/websocket"
)

// subscriptionBody is the body of POST and PATCH /api/v2/subscriptions/<type>.
// Fields that do not apply to the type are ignored.
type subscriptionBody struct {
	EndpointID      *flexID   `json:"endpoint_id"`
	Enabled         *bool     `json:"enabled"`
	CallStates      *[]string `json:"call_states"`
	GroupCallsOnly  *bool     `json:"group_calls_only"`
	TargetType      *string   `json:"target_type"`
	TargetID        *flexID   `json:"target_id"`
	Direction       *string   `json:"direction"`
	IncludeInternal *bool     `json:"include_internal"`
	Status          *bool     `json:"status"`
	AgentType       *string   `json:"agent_type"`
	ContactType     *string   `json:"contact_type"`
}

// apply copies the present fields of b into sub and validates the result.
// It returns a message for a 400 answer, or "".
func (b subscriptionBody) apply(sub *subscription, create bool) string {
	switch {
	case create && b.EndpointID == nil:
		return "endpoint_id is required"
	case create && sub.typ == "sms" && b.Direction == nil:
		return "direction is required"
	case create && sub.typ == "agent_status" && b.AgentType == nil:
		return "agent_type is required"
	case sub.typ == "contact" && b.ContactType == nil:
		return "contact_type is required"
	}
	setIf(&sub.enabled, b.Enabled)
	if b.EndpointID != nil {
		sub.endpointID = int64(*b.EndpointID)
	}
	if b.TargetID != nil {
		sub.targetID = int64(*b.TargetID)
	}
	switch sub.typ {
	case "call":
		if b.CallStates != nil {
			sub.callStates = slices.Clone(*b.CallStates)
		}
		setIf(&sub.groupCallsOnly, b.GroupCallsOnly)
		setIf(&sub.targetType, b.TargetType)
	case "sms":
		setIf(&sub.direction, b.Direction)
		setIf(&sub.includeInternal, b.IncludeInternal)
		setIf(&sub.status, b.Status)
		setIf(&sub.targetType, b.TargetType)
	case "agent_status":
		setIf(&sub.agentType, b.AgentType)
	case "contact":
		setIf(&sub.contactType, b.ContactType)
	}
	if err := validateSubscription(sub); err != nil {
		return err.Error()
	}
	return ""
}

func setIf[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// subscriptionProto is the union of Dialpad's *EventSubscriptionProto
// schemas; the fields of other types are omitted.
type subscriptionProto struct {
	AgentType       string          `json:"agent_type,omitempty"`
	CallStates      []string        `json:"call_states,omitempty"`
	ContactType     string          `json:"contact_type,omitempty"`
	Direction       string          `json:"direction,omitempty"`
	Enabled         bool            `json:"enabled"`
	GroupCallsOnly  *bool           `json:"group_calls_only,omitempty"`
	ID              string          `json:"id"`
	IncludeInternal *bool           `json:"include_internal,omitempty"`
	Status          *bool           `json:"status,omitempty"`
	TargetID        string          `json:"target_id,omitempty"`
	TargetType      string          `json:"target_type,omitempty"`
	Webhook         *webhookProto   `json:"webhook,omitempty"`
	Websocket       *websocketProto `json:"websocket,omitempty"`
}

// subView is a snapshot of a subscription and its endpoint.
type subView struct {
	sub subscription
	ws  *websocketEP
	wh  *webhookEP
}

// viewLocked snapshots sub; s.mu must be held.
func (s *Server) viewLocked(sub *subscription) subView {
	v := subView{sub: *sub}
	if ep := s.websockets[sub.endpointID]; ep != nil {
		cp := *ep
		v.ws = &cp
	}
	if ep := s.webhooks[sub.endpointID]; ep != nil {
		cp := *ep
		v.wh = &cp
	}
	return v
}

// render builds the response proto; a websocket endpoint gets a URL scoped
// to this subscription.
func (s *Server) render(v subView) subscriptionProto {
	sub := v.sub
	p := subscriptionProto{Enabled: sub.enabled, ID: idString(sub.id)}
	switch sub.typ {
	case "call":
		p.CallStates = append([]string{}, sub.callStates...)
		p.GroupCallsOnly = &sub.groupCallsOnly
	case "sms":
		p.Direction, p.IncludeInternal, p.Status = sub.direction, &sub.includeInternal, &sub.status
	case "agent_status":
		p.AgentType = sub.agentType
	case "contact":
		p.ContactType = sub.contactType
	}
	if sub.typ == "call" || sub.typ == "sms" {
		p.TargetType = sub.targetType
		if sub.targetID != 0 {
			p.TargetID = idString(sub.targetID)
		}
	}
	if v.ws != nil {
		p.Websocket = s.websocketProtoOf(*v.ws, sub.typ, sub.id)
	}
	if v.wh != nil {
		p.Webhook = webhookProtoOf(*v.wh)
	}
	return p
}

// serveSubscriptions handles /api/v2/subscriptions/<typ>[/{id}].
func (s *Server) serveSubscriptions(w http.ResponseWriter, r *http.Request, typ string, rest []string) {
	if len(rest) == 0 {
		switch r.Method {
		case http.MethodGet:
			s.listSubscriptions(w, r, typ)
		case http.MethodPost:
			s.createSubscription(w, r, typ)
		default:
			methodNotAllowed(w, http.MethodGet, http.MethodPost)
		}
		return
	}
	id, ok := parseID(rest[0])
	if !ok {
		writeError(w, http.StatusNotFound, "subscription not found")
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodPatch, http.MethodDelete:
		s.subscriptionItem(w, r, typ, id)
	default:
		methodNotAllowed(w, http.MethodGet, http.MethodPatch, http.MethodDelete)
	}
}

func (s *Server) createSubscription(w http.ResponseWriter, r *http.Request, typ string) {
	var body subscriptionBody
	if err := decodeBody(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	sub := &subscription{typ: typ, enabled: true}
	if typ == "call" {
		sub.callStates = []string{"all"}
	}
	if msg := body.apply(sub, true); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	s.mu.Lock()
	if !s.endpointExists(sub.endpointID) {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "endpoint not found")
		return
	}
	sub.id = s.newID()
	s.subs[sub.id] = sub
	v := s.viewLocked(sub)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, s.render(v))
}

func (s *Server) listSubscriptions(w http.ResponseWriter, r *http.Request, typ string) {
	q := r.URL.Query()
	targetType, targetID := "", int64(0)
	if typ == "call" || typ == "sms" {
		targetType = q.Get("target_type")
		if t := q.Get("target_id"); t != "" {
			n, err := strconv.ParseInt(t, 10, 64)
			if err != nil {
				writeError(w, http.StatusBadRequest, "invalid target_id")
				return
			}
			targetID = n
		}
	}
	s.mu.Lock()
	matching := make(map[int64]*subscription)
	for id, sub := range s.subs {
		if sub.typ == typ && (targetType == "" || sub.targetType == targetType) &&
			(targetID == 0 || sub.targetID == targetID) {
			matching[id] = sub
		}
	}
	ids, cursor, err := paginate(sortedIDs(matching), q.Get("cursor"), s.cfg.PageSize)
	views := make([]subView, 0, len(ids))
	for _, id := range ids {
		views = append(views, s.viewLocked(matching[id]))
	}
	s.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := list[subscriptionProto]{Items: make([]subscriptionProto, 0, len(views)), Cursor: cursor}
	for _, v := range views {
		out.Items = append(out.Items, s.render(v))
	}
	writeJSON(w, http.StatusOK, out)
}

// subscriptionItem gets, partially updates or deletes subscription id of
// type typ. Deleting closes the connections scoped to it.
func (s *Server) subscriptionItem(w http.ResponseWriter, r *http.Request, typ string, id int64) {
	var body subscriptionBody
	if r.Method == http.MethodPatch {
		if err := decodeBody(r, &body); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	s.mu.Lock()
	sub := s.subs[id]
	if sub == nil || sub.typ != typ {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "subscription not found")
		return
	}
	var doomed []*conn
	switch r.Method {
	case http.MethodPatch:
		next := *sub
		if msg := body.apply(&next, false); msg != "" {
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, msg)
			return
		}
		if !s.endpointExists(next.endpointID) {
			s.mu.Unlock()
			writeError(w, http.StatusNotFound, "endpoint not found")
			return
		}
		*sub = next
	case http.MethodDelete:
		delete(s.subs, id)
		for c := range s.open {
			if c.scope.subID == id {
				doomed = append(doomed, c)
			}
		}
	}
	v := s.viewLocked(sub)
	s.mu.Unlock()
	for _, c := range doomed {
		c.closeGracefully(websocket.CloseNormalClosure, "subscription deleted")
	}
	writeJSON(w, http.StatusOK, s.render(v))
}
