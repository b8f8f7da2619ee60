package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestAPIRetriesAreWarnings: a one-shot command (a resource command,
// setup, migrate) that retries after a 429 or a 5xx says so on its error
// output, as listen does in its log, instead of waiting without a word.
func TestAPIRetriesAreWarnings(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	dir := t.TempDir()
	hook := srv.AddWebhook("http://127.0.0.1:1/hook", "")
	if _, err := srv.AddSubscription("call", hook, dialpadtest.SubscriptionOptions{}); err != nil {
		t.Fatal(err)
	}
	ws := srv.AddWebsocket("")
	cfg := writeFile(t, dir, "ok.yaml", "websocket: {id: "+strconv.FormatInt(ws, 10)+"}\nsubscriptions: []\n")
	for _, args := range [][]string{
		{"websockets", "list"},
		{"setup", "--dry-run", "--config", cfg, "--state", filepath.Join(dir, "setup.json")},
		{"migrate", "--dry-run", "--from-webhook", strconv.FormatInt(hook, 10), "--record", filepath.Join(dir, "migration.json")},
	} {
		srv.FailNextREST(1, http.StatusServiceUnavailable, 0)
		var out, errOut syncBuffer
		full := append(append([]string{"dialpad-tunnel"}, args...), apiArgs(srv)...)
		if err := runArgs(context.Background(), &out, &errOut, full); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		for _, want := range []string{"WARN", "dialpad: API request failed; retrying", "retry=1", "of=4", "status=503"} {
			if !strings.Contains(errOut.String(), want) {
				t.Errorf("%v: error output %q\nwant it to say %q", args, errOut.String(), want)
			}
		}
		if strings.Contains(errOut.String(), srv.APIKey()) {
			t.Errorf("%v: error output shows the API key", args)
		}
	}
}
