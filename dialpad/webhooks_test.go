package dialpad_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

// TestWebhookShownWithoutTokens: a webhook is described and logged with
// its id and its URL's host only: the path or query of a hook URL often
// holds a token, and its secret is never shown.
func TestWebhookShownWithoutTokens(t *testing.T) {
	wh := dialpad.Webhook{ID: 42, HookURL: "https://u:pw@hooks.example.com/hooks/catch/1/s3cret/?token=s3cret",
		Signature: &dialpad.Signature{Secret: "s3cret"}}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "webhook", wh)
	for _, got := range []string{fmt.Sprint(wh), logged.String()} {
		if strings.Contains(got, "s3cret") || strings.Contains(got, "pw") || !strings.Contains(got, "hooks.example.com") || !strings.Contains(got, "42") {
			t.Errorf("shown as %q: want its id and host, no token, password or secret", got)
		}
	}
}
