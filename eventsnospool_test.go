package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// TestEventsFlagsNameNoSpool: events and status given the flags of a
// listen that never ran (another --events, a forgotten --api-base) while
// other spools are in the default folder list those spools, with their
// counts, where they said only "no such spool file" and left the user to
// guess which flag differed.
func TestEventsFlagsNameNoSpool(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	base := "http://127.0.0.1:8089"
	made, err := defaultSpool(base, []string{createSpoolName([]dialpad.SubscriptionType{"call", "sms"})})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(made), 0o700); err != nil {
		t.Fatal(err)
	}
	spoolBatch(t, made, func(*spool.Disk) {})

	for _, args := range [][]string{
		{"events", "list", "--api-base", base, "--create", "--events", "call"},
		{"events", "list", "--create", "--events", "call,sms"}, // no --api-base: dialpad.com's
		{"events", "replay", "--dead", "--api-base", base, "--websocket-id", "7"},
		{"status", "--api-base", base, "--websocket-id", "7"},
	} {
		_, err := runCLI(t, args...)
		if err == nil {
			t.Errorf("%v succeeded on a spool that is not there", args)
			continue
		}
		for _, want := range []string{"no such spool file", "no listen ran with these flags", made + "  (0 pending, 0 dead, 0 delivered"} {
			mustContain(t, err.Error(), want)
		}
	}
}
