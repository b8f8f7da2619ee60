package dialpad

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
)

// Signature is how Dialpad signs events for an endpoint that has a secret:
// HS256 JWTs keyed with Secret.
type Signature struct {
	Algo   string `json:"algo"`
	Secret string `json:"secret"`
	Type   string `json:"type"`
}

// String describes the signature without its secret.
func (s Signature) String() string { return s.Type + "/" + s.Algo }

// LogValue logs the signature without its secret.
func (s Signature) LogValue() slog.Value {
	return slog.GroupValue(slog.String("algo", s.Algo), slog.String("type", s.Type))
}

// Websocket is a Dialpad websocket endpoint (WebsocketProto). URL carries a
// short-lived token: log it only through RedactURL.
type Websocket struct {
	ID        ID         `json:"id"`
	URL       string     `json:"websocket_url"`
	Signature *Signature `json:"signature,omitempty"`
}

// Secret returns the secret events are signed with, "" when there is none.
func (w Websocket) Secret() string {
	if w.Signature == nil {
		return ""
	}
	return w.Signature.Secret
}

// String describes the endpoint with its URL token and secret redacted.
func (w Websocket) String() string {
	return fmt.Sprintf("websocket %s %s", w.ID, RedactURL(w.URL))
}

// LogValue logs the endpoint with its URL token and secret redacted.
func (w Websocket) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", w.ID.String()),
		slog.String("url", RedactURL(w.URL)),
		slog.Bool("signed", w.Secret() != ""),
	)
}

// secretBody is the create/update body of a websocket endpoint.
type secretBody struct {
	Secret string `json:"secret,omitempty"`
}

// CreateWebsocket creates a websocket endpoint. With a non-empty secret its
// events arrive as HS256 JWTs signed with it; without, as plain JSON. The
// request is never retried (POST /websockets is limited to 250/min).
func (c *Client) CreateWebsocket(ctx context.Context, secret string) (Websocket, error) {
	var w Websocket
	err := c.do(ctx, "create websocket", http.MethodPost, "/websockets", nil, secretBody{secret}, &w)
	return w, err
}

// ListWebsockets returns every websocket endpoint of the company.
func (c *Client) ListWebsockets(ctx context.Context) ([]Websocket, error) {
	return listAll[Websocket](ctx, c, "list websockets", "/websockets")
}

// Websocket fetches one endpoint. Each call issues a fresh websocket_url
// that receives the events of every subscription attached to the endpoint.
func (c *Client) Websocket(ctx context.Context, id ID) (Websocket, error) {
	var w Websocket
	err := c.do(ctx, "get websocket "+id.String(), http.MethodGet, "/websockets/"+id.String(), nil, nil, &w)
	return w, err
}

// UpdateWebsocket replaces the endpoint's signing secret.
func (c *Client) UpdateWebsocket(ctx context.Context, id ID, secret string) (Websocket, error) {
	var w Websocket
	body := struct {
		Secret string `json:"secret"`
	}{secret}
	err := c.do(ctx, "update websocket "+id.String(), http.MethodPatch, "/websockets/"+id.String(), nil, body, &w)
	return w, err
}

// DeleteWebsocket deletes the endpoint and returns it as it was.
func (c *Client) DeleteWebsocket(ctx context.Context, id ID) (Websocket, error) {
	var w Websocket
	err := c.do(ctx, "delete websocket "+id.String(), http.MethodDelete, "/websockets/"+id.String(), nil, nil, &w)
	if err == nil && w.ID == 0 {
		w.ID = id
	}
	return w, err
}
