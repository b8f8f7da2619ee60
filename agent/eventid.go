package agent

import (
	"bytes"

	"github.com/google/uuid"
)

// eventNamespace is the namespace of event ids (RFC 9562 name-based
// UUIDs): dialpad-tunnel's own, fixed for good, so that ids agree across
// agents and versions.
var eventNamespace = uuid.MustParse("2b121ca9-ae14-44e5-ad0b-f3b1f0fdfc48")

// EventID is the id of the event whose frame is body (jwt: a compact JWT,
// with or without whitespace around it): a UUID (version 5) of what
// identifies the event across connections, as the duplicate check reads
// it: the frame's bytes, or a JWT's claims without the time claims that
// Dialpad may mint anew for each connection (claimsIdentity). Every copy
// of an event has the same id, on any connection of any agent, through
// retries, restarts and replays; unlike the delivery id, which each agent
// draws for what it stores. A handler behind two agents on one websocket
// drops the second copy by it.
func EventID(body []byte, jwt bool) string {
	identity := body
	if jwt {
		identity = claimsIdentity(bytes.TrimSpace(body))
	}
	return uuid.NewSHA1(eventNamespace, identity).String()
}
