package dialpadtest

import (
	"net/http"
	"net/url"
)

// webhookBody is the body of POST and PATCH /api/v2/webhooks.
type webhookBody struct {
	HookURL *string `json:"hook_url"`
	Secret  *string `json:"secret"`
}

// validate checks the fields that are present; create requires hook_url.
func (b webhookBody) validate(create bool) string {
	if b.HookURL == nil && create {
		return "hook_url is required"
	}
	if b.HookURL != nil {
		u, err := url.Parse(*b.HookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "hook_url must be an absolute http or https URL"
		}
	}
	if b.Secret != nil && !validSecret(*b.Secret) {
		return "secret must be a single line"
	}
	return ""
}

// serveWebhooks handles /api/v2/webhooks and /api/v2/webhooks/{id}.
func (s *Server) serveWebhooks(w http.ResponseWriter, r *http.Request, rest []string) {
	if len(rest) == 0 {
		switch r.Method {
		case http.MethodGet:
			s.listWebhooks(w, r)
		case http.MethodPost:
			s.createWebhook(w, r)
		default:
			methodNotAllowed(w, http.MethodGet, http.MethodPost)
		}
		return
	}
	id, ok := parseID(rest[0])
	if !ok {
		writeError(w, http.StatusNotFound, "webhook not found")
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodPatch, http.MethodDelete:
		s.webhookItem(w, r, id)
	default:
		methodNotAllowed(w, http.MethodGet, http.MethodPatch, http.MethodDelete)
	}
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) {
	var body webhookBody
	if err := decodeBody(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if msg := body.validate(true); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	var secret string
	if body.Secret != nil {
		secret = *body.Secret
	}
	id := s.AddWebhook(*body.HookURL, secret)
	writeJSON(w, http.StatusOK, webhookProtoOf(webhookEP{id: id, hookURL: *body.HookURL, secret: secret}))
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ids, cursor, err := paginate(sortedIDs(s.webhooks), r.URL.Query().Get("cursor"), s.cfg.PageSize)
	out := list[*webhookProto]{Items: make([]*webhookProto, 0, len(ids)), Cursor: cursor}
	for _, id := range ids {
		out.Items = append(out.Items, webhookProtoOf(*s.webhooks[id]))
	}
	s.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// webhookItem gets, updates or deletes webhook id (deleting also deletes
// its subscriptions) and answers the webhook.
func (s *Server) webhookItem(w http.ResponseWriter, r *http.Request, id int64) {
	var body webhookBody
	if r.Method == http.MethodPatch {
		if err := decodeBody(r, &body); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if msg := body.validate(false); msg != "" {
			writeError(w, http.StatusBadRequest, msg)
			return
		}
	}
	s.mu.Lock()
	ep := s.webhooks[id]
	var snap webhookEP
	if ep != nil {
		if body.HookURL != nil {
			ep.hookURL = *body.HookURL
		}
		if body.Secret != nil {
			ep.secret = *body.Secret
		}
		snap = *ep
		if r.Method == http.MethodDelete {
			delete(s.webhooks, id)
			s.deleteSubscriptionsOfLocked(id)
		}
	}
	s.mu.Unlock()
	if ep == nil {
		writeError(w, http.StatusNotFound, "webhook not found")
		return
	}
	writeJSON(w, http.StatusOK, webhookProtoOf(snap))
}
