package dialpadtest

import (
	"io"
	"net/http"
	"strings"
	"time"
)

// Control endpoints for the CLI's trigger command. They require the API key
// like REST, but are not logged in RESTCalls nor affected by FailNextREST.
//
//	POST /dialpadtest/publish/{type}  body: the raw event → {"frames":N,"webhooks":M}
//	POST /dialpadtest/trigger/{type}  generated event(s) → {"events":K,"frames":N,"webhooks":M}
//
// Both add "webhook_errors":F when F webhook POSTs failed, and
// "subscriptions":S, the enabled subscriptions of the type that took the
// event (the most any of trigger's events had).
//
// trigger/call publishes a whole call lifecycle.

// publishResult is the answer of /dialpadtest/publish.
type publishResult struct {
	Frames        int `json:"frames"`
	Webhooks      int `json:"webhooks"`
	WebhookErrors int `json:"webhook_errors,omitempty"`
	Subscriptions int `json:"subscriptions"`
}

// triggerResult is the answer of /dialpadtest/trigger.
type triggerResult struct {
	Events        int `json:"events"`
	Frames        int `json:"frames"`
	Webhooks      int `json:"webhooks"`
	WebhookErrors int `json:"webhook_errors,omitempty"`
	Subscriptions int `json:"subscriptions"`
}

// serveControl handles /dialpadtest/{publish,trigger}/{type}.
func (s *Server) serveControl(w http.ResponseWriter, r *http.Request, rest string) {
	action, typ, ok := strings.Cut(rest, "/")
	if !ok || (action != "publish" && action != "trigger") || !validType(typ) {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	if r.Method != http.MethodPost {
		methodNotAllowed(w, http.MethodPost)
		return
	}
	if action == "publish" {
		event, err := io.ReadAll(io.LimitReader(r.Body, maxPublish+1))
		switch {
		case err != nil:
			writeError(w, http.StatusBadRequest, "read body")
			return
		case len(event) == 0 || len(event) > maxPublish:
			writeError(w, http.StatusBadRequest, "the body must be one event of at most 64 MiB")
			return
		}
		d := s.Publish(typ, event)
		writeJSON(w, http.StatusOK, publishResult{Frames: d.Frames, Webhooks: d.Webhooks, WebhookErrors: d.WebhookErrors, Subscriptions: d.Subscriptions})
		return
	}
	events := s.generate(typ)
	res := triggerResult{Events: len(events)}
	for _, ev := range events {
		d := s.Publish(typ, ev)
		res.Frames += d.Frames
		res.Webhooks += d.Webhooks
		res.WebhookErrors += d.WebhookErrors
		res.Subscriptions = max(res.Subscriptions, d.Subscriptions)
	}
	writeJSON(w, http.StatusOK, res)
}

// generate builds the events of one trigger from the server's generator,
// with timestamps from now on.
func (s *Server) generate(typ string) [][]byte {
	s.genMu.Lock()
	defer s.genMu.Unlock()
	s.gen.SetClock(time.Now())
	switch typ {
	case "call":
		return s.gen.CallLifecycle()
	case "sms":
		return [][]byte{s.gen.SMS()}
	case "agent_status":
		return [][]byte{s.gen.AgentStatus()}
	case "contact":
		return [][]byte{s.gen.Contact()}
	default:
		return [][]byte{s.gen.Changelog()}
	}
}
