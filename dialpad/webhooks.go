package dialpad

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
)

// Webhook is a Dialpad webhook endpoint (WebhookProto): Dialpad POSTs events
// to HookURL.
type Webhook struct {
	ID        ID         `json:"id"`
	HookURL   string     `json:"hook_url"`
	Signature *Signature `json:"signature,omitempty"`
}

// Secret returns the secret events are signed with, "" when there is none.
func (w Webhook) Secret() string {
	if w.Signature == nil {
		return ""
	}
	return w.Signature.Secret
}

// String describes the webhook without its secret, and with only the
// host of its URL: a hook URL's path or query often holds a token
// (hooks.zapier.com/hooks/catch/…/<token>/).
func (w Webhook) String() string {
	return fmt.Sprintf("webhook %s (%s)", w.ID, hookHost(w.HookURL))
}

// LogValue logs the webhook without its secret, and with only the host of
// its URL (see String).
func (w Webhook) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", w.ID.String()),
		slog.String("hook_host", hookHost(w.HookURL)),
		slog.Bool("signed", w.Secret() != ""),
	)
}

// hookHost is the host of a hook URL, or "?" if it has none.
func hookHost(hookURL string) string {
	u, err := url.Parse(hookURL)
	if err != nil || u.Host == "" {
		return "?"
	}
	return u.Host
}

// WebhookUpdate is a partial webhook update: nil fields are left unchanged.
type WebhookUpdate struct {
	HookURL *string `json:"hook_url,omitempty"`
	Secret  *string `json:"secret,omitempty"`
}

// CreateWebhook creates a webhook endpoint delivering to hookURL, signed with
// secret when it is non-empty. The request is never retried.
func (c *Client) CreateWebhook(ctx context.Context, hookURL, secret string) (Webhook, error) {
	const op = "create webhook"
	var w Webhook
	if hookURL == "" {
		return w, errf(op, errors.New("hook URL is required"))
	}
	body := struct {
		HookURL string `json:"hook_url"`
		Secret  string `json:"secret,omitempty"`
	}{hookURL, secret}
	err := c.do(ctx, op, http.MethodPost, "/webhooks", nil, body, &w)
	return w, err
}

// ListWebhooks returns every webhook endpoint of the company.
func (c *Client) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	return listAll[Webhook](ctx, c, "list webhooks", "/webhooks")
}

// Webhook fetches one webhook endpoint.
func (c *Client) Webhook(ctx context.Context, id ID) (Webhook, error) {
	var w Webhook
	err := c.do(ctx, "get webhook "+id.String(), http.MethodGet, "/webhooks/"+id.String(), nil, nil, &w)
	return w, err
}

// UpdateWebhook changes the fields of upd that are non-nil.
func (c *Client) UpdateWebhook(ctx context.Context, id ID, upd WebhookUpdate) (Webhook, error) {
	var w Webhook
	err := c.do(ctx, "update webhook "+id.String(), http.MethodPatch, "/webhooks/"+id.String(), nil, upd, &w)
	return w, err
}

// DeleteWebhook deletes the webhook endpoint and returns it as it was.
func (c *Client) DeleteWebhook(ctx context.Context, id ID) (Webhook, error) {
	var w Webhook
	err := c.do(ctx, "delete webhook "+id.String(), http.MethodDelete, "/webhooks/"+id.String(), nil, nil, &w)
	if err == nil && w.ID == 0 {
		w.ID = id
	}
	return w, err
}
