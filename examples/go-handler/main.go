// Command go-handler is a minimal Dialpad webhook handler to copy: it
// verifies each event's HS256 JWT with the secret in DIALPAD_SECRET and
// prints one line per event. It works the same behind dialpad-tunnel and as
// a real Dialpad webhook.
//
//	DIALPAD_SECRET=... go run ./examples/go-handler            # 127.0.0.1:3000
//	dialpad-tunnel listen --websocket-id 1234 --forward-to http://127.0.0.1:3000/webhooks
//
// With DIALPAD_SECRET set, the body must be the compact JWT Dialpad sends
// (Content-Type application/jwt through the tunnel). Without it, plain JSON
// events are accepted. Answers: 200 printed, 401 signature or algorithm
// refused, 400 body unreadable. -addr (or HOST and PORT) sets the listen
// address, -path the URL path.
//
// A second copy of an event (the same X-Dialpad-Tunnel-Event-Id, from a
// second dialpad-tunnel on the same websocket) is answered 200 and logged
// as a duplicate, not processed again (dedupe.go).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// maxBody bounds one request body; dialpad-tunnel refuses larger frames.
const maxBody = 8 << 20

func main() {
	host, port := "127.0.0.1", "3000"
	if h := os.Getenv("HOST"); h != "" {
		host = h
	}
	if p := os.Getenv("PORT"); p != "" {
		port = p
	}
	addr := flag.String("addr", net.JoinHostPort(host, port), "listen address (default from HOST and PORT)")
	path := flag.String("path", "/webhooks", "URL path of the webhook")
	flag.Parse()
	log.SetFlags(0)

	h := handler{secret: os.Getenv("DIALPAD_SECRET"), seen: newDedupe()}
	mux := http.NewServeMux()
	mux.Handle("POST "+*path, h)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	mode := "verifying HS256 JWTs with DIALPAD_SECRET"
	if h.secret == "" {
		mode = "DIALPAD_SECRET not set: accepting unsigned JSON"
	}
	fmt.Printf("listening on http://%s%s (%s)\n", ln.Addr(), *path, mode)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}

// handler verifies and prints one event per request.
type handler struct {
	secret string
	seen   *dedupe // event ids processed
}

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
		// A final answer: the agent keeps the event as a dead letter.
		reject(w, http.StatusRequestEntityTooLarge, err)
		return
	}
	if err != nil {
		reject(w, http.StatusBadRequest, err)
		return
	}
	event, verified, status, err := h.decode(body)
	if err == nil && !isObject(event) {
		status, err = http.StatusBadRequest, errors.New("event is not a JSON object")
	}
	if err != nil {
		reject(w, status, err)
		return
	}
	// Verified first: a forger gets no 200 by naming an id seen already.
	// Without the header (a real Dialpad webhook) there is nothing to
	// drop by, and every POST is processed.
	eventID := r.Header.Get("X-Dialpad-Tunnel-Event-Id")
	if len(eventID) > maxIDLen {
		// Not one the agent sends: remembering it would let a header of
		// up to 1 MB per request fill the memory maxIDs bounds.
		reject(w, http.StatusBadRequest, fmt.Errorf("X-Dialpad-Tunnel-Event-Id of %d bytes: not an event id", len(eventID)))
		return
	}
	dup, err := h.seen.do(eventID, func() error {
		// Your processing goes here. An error answers 500: the agent
		// retries the event, and the retry is processed.
		fmt.Println(describe(event, verified))
		return nil
	})
	if err != nil {
		reject(w, http.StatusInternalServerError, err)
		return
	}
	if dup {
		fmt.Printf("duplicate event %s: processed already\n", eventID)
	}
	w.WriteHeader(http.StatusOK)
}

// decode returns the event's JSON: the JWT's payload once the signature is
// verified, or the body itself when no secret is configured.
func (h handler) decode(body []byte) (event []byte, verified bool, status int, err error) {
	body = bytes.TrimSpace(body)
	isJSON := len(body) > 0 && body[0] == '{'
	switch {
	case h.secret == "" && isJSON:
		return body, false, 0, nil
	case h.secret == "":
		return nil, false, http.StatusUnauthorized, errors.New("signed event but DIALPAD_SECRET is not set")
	case isJSON:
		return nil, false, http.StatusUnauthorized, errors.New("unsigned JSON event but DIALPAD_SECRET is set")
	}
	// Only HS256: a token saying alg "none" or HS512 is refused before any
	// key is used. Time claims are not checked: Dialpad may not send them.
	// The signature is checked before the payload is read, so a forgery is
	// a 401 whatever its payload (jwt.Parse reads the claims first, and
	// took a forged token whose payload is not JSON for a malformed one).
	segs := strings.Split(string(body), ".")
	if len(segs) != 3 {
		return nil, false, http.StatusBadRequest, fmt.Errorf("not a compact JWT: %d segment(s)", len(segs))
	}
	parser := jwt.NewParser()
	header, err := parser.DecodeSegment(segs[0])
	var hdr struct {
		Alg string `json:"alg"`
	}
	if err != nil || json.Unmarshal(header, &hdr) != nil {
		return nil, false, http.StatusBadRequest, errors.New("JWT header is not base64url JSON")
	}
	if hdr.Alg != jwt.SigningMethodHS256.Alg() {
		return nil, false, http.StatusUnauthorized, fmt.Errorf("alg %q refused: only HS256", hdr.Alg)
	}
	sig, err := parser.DecodeSegment(segs[2])
	if err != nil {
		return nil, false, http.StatusBadRequest, errors.New("JWT signature is not base64url")
	}
	if err := jwt.SigningMethodHS256.Verify(segs[0]+"."+segs[1], sig, []byte(h.secret)); err != nil {
		return nil, false, http.StatusUnauthorized, errors.New("signature does not match DIALPAD_SECRET")
	}
	// The payload segment is the event's JSON, byte for byte. Read the
	// event from there rather than from parsed claims, whose numbers are
	// float64: ids above 2^53 would lose digits.
	event, err = parser.DecodeSegment(segs[1])
	if err != nil {
		return nil, false, http.StatusBadRequest, errors.New("JWT payload is not base64url")
	}
	return event, true, 0, nil
}

// isObject reports whether event is one JSON object, as every event is.
func isObject(event []byte) bool {
	event = bytes.TrimSpace(event)
	return json.Valid(event) && len(event) > 0 && event[0] == '{'
}

// fields are the parts of an event the line shows. Ids stay raw JSON so
// that ids above 2^53 print exactly.
type fields struct {
	CallID        id      `json:"call_id"`
	State         string  `json:"state"`
	ID            id      `json:"id"`
	FromNumber    string  `json:"from_number"`
	MessageStatus string  `json:"message_status"`
	Direction     string  `json:"direction"`
	OnDutyStatus  *string `json:"on_duty_status"`
	Availability  *string `json:"availability_status"`
	Event         string  `json:"event"`
	Action        string  `json:"action"`
	ChangedBy     any     `json:"changed_by"`
	Target        struct {
		ID id `json:"id"`
	} `json:"target"`
	Contact struct {
		ID id `json:"id"`
	} `json:"contact"`
}

// id is a number or string id, kept as its text.
type id string

func (i *id) UnmarshalJSON(b []byte) error {
	if string(b) != "null" {
		*i = id(bytes.Trim(b, `"`))
	}
	return nil
}

// describe returns "[verified] call hangup call_id=123" and the like. The
// type is guessed from fields only one event type carries.
func describe(event []byte, verified bool) string {
	tag := "[unsigned]"
	if verified {
		tag = "[verified]"
	}
	var f fields
	if err := json.Unmarshal(event, &f); err != nil {
		return fmt.Sprintf("%s unknown event (%v)", tag, err)
	}
	switch {
	case f.CallID != "":
		return fmt.Sprintf("%s call %s call_id=%s", tag, f.State, f.CallID)
	case f.OnDutyStatus != nil || f.Availability != nil:
		return fmt.Sprintf("%s agent_status %s agent_id=%s", tag, deref(f.OnDutyStatus, deref(f.Availability, "")), f.Target.ID)
	case f.Event != "" && f.Contact.ID != "":
		return fmt.Sprintf("%s contact %s contact_id=%s", tag, f.Event, f.Contact.ID)
	case f.Action != "" && f.ChangedBy != nil:
		return fmt.Sprintf("%s changelog %s target_id=%s", tag, f.Action, f.Target.ID)
	case f.FromNumber != "" || f.MessageStatus != "":
		return fmt.Sprintf("%s sms %s %s id=%s", tag, f.Direction, f.MessageStatus, f.ID)
	}
	return tag + " unknown event"
}

func deref(s *string, def string) string {
	if s == nil {
		return def
	}
	return *s
}

// reject answers status and says why on stderr; the reason never holds the
// secret.
func reject(w http.ResponseWriter, status int, err error) {
	log.Printf("rejected %d: %v", status, err)
	http.Error(w, http.StatusText(status), status)
}
