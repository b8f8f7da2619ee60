package dialpadtest

import (
	"net/http"

	"github.com/gorilla/websocket"
)

// websocketBody is the body of POST and PATCH /api/v2/websockets.
type websocketBody struct {
	Secret *string `json:"secret"`
}

// serveWebsockets handles /api/v2/websockets and /api/v2/websockets/{id}.
func (s *Server) serveWebsockets(w http.ResponseWriter, r *http.Request, rest []string) {
	if len(rest) == 0 {
		switch r.Method {
		case http.MethodGet:
			s.listWebsockets(w, r)
		case http.MethodPost:
			s.createWebsocket(w, r)
		default:
			methodNotAllowed(w, http.MethodGet, http.MethodPost)
		}
		return
	}
	id, ok := parseID(rest[0])
	if !ok {
		writeError(w, http.StatusNotFound, "websocket not found")
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.getWebsocket(w, id)
	case http.MethodPatch:
		s.updateWebsocket(w, r, id)
	case http.MethodDelete:
		s.deleteWebsocket(w, id)
	default:
		methodNotAllowed(w, http.MethodGet, http.MethodPatch, http.MethodDelete)
	}
}

func (s *Server) createWebsocket(w http.ResponseWriter, r *http.Request) {
	var body websocketBody
	if err := decodeBody(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var secret string
	if body.Secret != nil {
		secret = *body.Secret
	}
	if !validSecret(secret) {
		writeError(w, http.StatusBadRequest, "secret must be a single line")
		return
	}
	id := s.AddWebsocket(secret)
	writeJSON(w, http.StatusOK, s.websocketProtoOf(websocketEP{id: id, secret: secret}, "", 0))
}

func (s *Server) listWebsockets(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ids, cursor, err := paginate(sortedIDs(s.websockets), r.URL.Query().Get("cursor"), s.cfg.PageSize)
	eps := make([]websocketEP, 0, len(ids))
	for _, id := range ids {
		eps = append(eps, *s.websockets[id])
	}
	s.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := list[*websocketProto]{Items: make([]*websocketProto, 0, len(eps)), Cursor: cursor}
	for _, ep := range eps {
		out.Items = append(out.Items, s.websocketProtoOf(ep, "", 0))
	}
	writeJSON(w, http.StatusOK, out)
}

// getWebsocket answers the websocket with a newly issued websocket_url.
func (s *Server) getWebsocket(w http.ResponseWriter, id int64) {
	s.mu.Lock()
	ep := s.websockets[id]
	var snap websocketEP
	if ep != nil {
		snap = *ep
	}
	s.mu.Unlock()
	if ep == nil {
		writeError(w, http.StatusNotFound, "websocket not found")
		return
	}
	writeJSON(w, http.StatusOK, s.websocketProtoOf(snap, "", 0))
}

func (s *Server) updateWebsocket(w http.ResponseWriter, r *http.Request, id int64) {
	var body websocketBody
	if err := decodeBody(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if body.Secret != nil && !validSecret(*body.Secret) {
		writeError(w, http.StatusBadRequest, "secret must be a single line")
		return
	}
	s.mu.Lock()
	ep := s.websockets[id]
	var snap websocketEP
	if ep != nil {
		if body.Secret != nil {
			ep.secret = *body.Secret
		}
		snap = *ep
	}
	s.mu.Unlock()
	if ep == nil {
		writeError(w, http.StatusNotFound, "websocket not found")
		return
	}
	writeJSON(w, http.StatusOK, s.websocketProtoOf(snap, "", 0))
}

// deleteWebsocket deletes the websocket and the subscriptions linked to it,
// closes its connections and answers the deleted websocket.
func (s *Server) deleteWebsocket(w http.ResponseWriter, id int64) {
	s.mu.Lock()
	ep := s.websockets[id]
	var snap websocketEP
	var doomed []*conn
	if ep != nil {
		snap = *ep
		delete(s.websockets, id)
		s.deleteSubscriptionsOfLocked(id)
		for c := range s.open {
			if c.scope.websocketID == id {
				doomed = append(doomed, c)
			}
		}
	}
	s.mu.Unlock()
	if ep == nil {
		writeError(w, http.StatusNotFound, "websocket not found")
		return
	}
	for _, c := range doomed {
		c.closeGracefully(websocket.CloseNormalClosure, "websocket deleted")
	}
	writeJSON(w, http.StatusOK, s.websocketProtoOf(snap, "", 0))
}

// deleteSubscriptionsOfLocked deletes the subscriptions linked to endpoint
// id; s.mu must be held.
func (s *Server) deleteSubscriptionsOfLocked(endpointID int64) {
	for subID, sub := range s.subs {
		if sub.endpointID == endpointID {
			delete(s.subs, subID)
		}
	}
}
