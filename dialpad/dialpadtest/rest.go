package dialpadtest

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxBody bounds request bodies.
const maxBody = 1 << 20

// maxPublish bounds an event posted to /dialpadtest/publish: as large as
// the largest frame listen can be told to take (--max-frame-bytes), so
// that its limit can be tried.
const maxPublish = 64 << 20

// errorBody is Dialpad's error shape: {"error":{"code":N,"message":"..."}}.
type errorBody struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, msg
	writeJSON(w, code, b)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code, body = http.StatusInternalServerError, []byte(`{"error":{"code":500,"message":"encode response"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func methodNotAllowed(w http.ResponseWriter, allow ...string) {
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeError(w, http.StatusMethodNotAllowed, "method not allowed")
}

// decodeBody decodes the JSON request body into v; an empty body is {}.
func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if len(body) > maxBody {
		return errors.New("request body too large")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	return nil
}

// flexID is an int64 id that decodes from a JSON number or a numeric string.
type flexID int64

// UnmarshalJSON accepts 123 and "123".
func (f *flexID) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("invalid id %s", b)
	}
	*f = flexID(n)
	return nil
}

// parseID parses an id path segment.
func parseID(seg string) (int64, bool) {
	n, err := strconv.ParseInt(seg, 10, 64)
	return n, err == nil && n > 0
}

// validSecret reports whether secret is acceptable (single-line).
func validSecret(secret string) bool {
	return !strings.ContainsAny(secret, "\r\n")
}

// paginate returns the page of ids (sorted ascending) that follows cursor
// and the cursor of the next page ("" on the last page).
func paginate(ids []int64, cursor string, size int) ([]int64, string, error) {
	start := 0
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		after, ok := int64(0), false
		if err == nil {
			after, ok = parseID(strings.TrimPrefix(string(raw), "after:"))
		}
		if !ok {
			return nil, "", errors.New("invalid cursor")
		}
		start, _ = slices.BinarySearch(ids, after+1)
	}
	end := min(start+size, len(ids))
	page := ids[start:end]
	if end == len(ids) {
		return page, "", nil
	}
	last := page[len(page)-1]
	return page, base64.RawURLEncoding.EncodeToString([]byte("after:" + idString(last))), nil
}

// list is a page of a collection response; cursor is omitted on the last page.
type list[T any] struct {
	Items  []T    `json:"items"`
	Cursor string `json:"cursor,omitempty"`
}

// signatureProto is Dialpad's SignatureProto.
type signatureProto struct {
	Algo   string `json:"algo"`
	Secret string `json:"secret"`
	Type   string `json:"type"`
}

func signatureOf(secret string) *signatureProto {
	if secret == "" {
		return nil
	}
	return &signatureProto{Algo: "HS256", Secret: secret, Type: "jwt"}
}

// websocketProto is Dialpad's WebsocketProto.
type websocketProto struct {
	ID           string          `json:"id"`
	Signature    *signatureProto `json:"signature,omitempty"`
	WebsocketURL string          `json:"websocket_url"`
}

// webhookProto is Dialpad's WebhookProto.
type webhookProto struct {
	HookURL   string          `json:"hook_url"`
	ID        string          `json:"id"`
	Signature *signatureProto `json:"signature,omitempty"`
}

// websocketProtoOf renders ep with a freshly issued URL for the given scope
// (typ "" and subID 0: websocket-scoped).
func (s *Server) websocketProtoOf(ep websocketEP, typ string, subID int64) *websocketProto {
	return &websocketProto{
		ID:           idString(ep.id),
		Signature:    signatureOf(ep.secret),
		WebsocketURL: s.websocketURL(ep.id, typ, subID),
	}
}

func webhookProtoOf(ep webhookEP) *webhookProto {
	return &webhookProto{HookURL: ep.hookURL, ID: idString(ep.id), Signature: signatureOf(ep.secret)}
}

// serveREST applies injected failures and authentication, then dispatches.
func (s *Server) serveREST(w http.ResponseWriter, r *http.Request, rest string) {
	s.mu.Lock()
	fail := s.failN > 0
	code, retry := s.failCode, s.failRetry
	if fail {
		s.failN--
	}
	s.mu.Unlock()
	if fail {
		if retry > 0 {
			secs := int64((retry + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", fmt.Sprint(secs))
		}
		writeError(w, code, http.StatusText(code)+" (injected by dialpadtest)")
		return
	}
	if !s.authorized(r) {
		writeError(w, http.StatusUnauthorized, "invalid or missing API key")
		return
	}
	segs := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	switch {
	case segs[0] == "websockets" && len(segs) <= 2:
		s.serveWebsockets(w, r, segs[1:])
	case segs[0] == "webhooks" && len(segs) <= 2:
		s.serveWebhooks(w, r, segs[1:])
	case segs[0] == "subscriptions" && len(segs) >= 2 && len(segs) <= 3 && validType(segs[1]):
		s.serveSubscriptions(w, r, segs[1], segs[2:])
	default:
		writeError(w, http.StatusNotFound, "not found")
	}
}

// authorized reports whether r carries the API key as a bearer token or in
// the apikey query parameter.
func (s *Server) authorized(r *http.Request) bool {
	key := r.URL.Query().Get("apikey")
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return false
		}
		key = strings.TrimSpace(token)
	}
	return key != "" && subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.APIKey)) == 1
}

// FailNextREST makes the next n REST calls fail with status and a Dialpad
// error body, with a Retry-After header (whole seconds, rounded up) when
// retryAfter > 0. The failure comes before authentication.
func (s *Server) FailNextREST(n int, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failCode, s.failRetry = n, status, retryAfter
}

// RESTCalls returns a copy of the log of REST requests, oldest first: the
// latest Config.MaxRESTCalls.
func (s *Server) RESTCalls() []RESTCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RESTCall(nil), s.calls...)
}

// callRecorder logs a REST call in RESTCalls when its status is written,
// so the entry exists before the client sees the response. Every answer
// goes through writeJSON, which calls WriteHeader.
type callRecorder struct {
	http.ResponseWriter
	s            *Server
	method, path string
	ctx          context.Context // the request's
	hold         *hold           // HoldNextAnswer's, or nil
}

func (r *callRecorder) WriteHeader(code int) {
	r.s.mu.Lock()
	if most := r.s.cfg.MaxRESTCalls; len(r.s.calls) >= most {
		// The older half at a time: a copy per most/2 calls, not per call.
		r.s.calls = append(r.s.calls[:0], r.s.calls[len(r.s.calls)-most/2:]...)
	}
	r.s.calls = append(r.s.calls, RESTCall{Method: r.method, Path: r.path, Status: code})
	r.s.mu.Unlock()
	if r.hold != nil {
		r.hold.wait(r.ctx)
	}
	r.ResponseWriter.WriteHeader(code)
}
