package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDefaultSpoolIgnoresSourceOrder: the default spool file of a listen
// setup does not depend on the order of its --subscription flags; a file
// (or only route files) an earlier version named in another order is
// still found.
func TestDefaultSpoolIgnoresSourceOrder(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	dir := filepath.Join(state, "dialpad-tunnel", "spool")
	const api = "https://dialpad.com"
	ab, _ := defaultSpool(api, []string{"call-subscription-1", "sms-subscription-2"})
	ba, _ := defaultSpool(api, []string{"sms-subscription-2", "call-subscription-1"})
	sorted := filepath.Join(dir, "dialpad.com-call-subscription-1-sms-subscription-2.spool")
	if ab != sorted || ba != sorted {
		t.Fatalf("default spools %s and %s, want both %s", ab, ba, sorted)
	}

	old := filepath.Join(dir, "dialpad.com-sms-subscription-2-call-subscription-1.spool")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, order := range [][]string{{"sms-subscription-2", "call-subscription-1"}, {"call-subscription-1", "sms-subscription-2"}} {
		if got, _ := defaultSpool(api, order); got != old {
			t.Errorf("%v with only a file an earlier version named: %s, want it (%s)", order, got, old)
		}
	}

	// A setup with routes only had route files and no base file.
	routeOnly := filepath.Join(dir, "dialpad.com-websocket-5-call-subscription-1.call.spool")
	if err := os.WriteFile(routeOnly, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := defaultSpool(api, []string{"websocket-5", "call-subscription-1"}); got != filepath.Join(dir, "dialpad.com-websocket-5-call-subscription-1.spool") {
		t.Errorf("with only an earlier version's route file: %s, want its base", got)
	}
	if err := os.WriteFile(sorted, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := defaultSpool(api, []string{"sms-subscription-2", "call-subscription-1"}); got != sorted {
		t.Errorf("with both files: %s, want the sorted name %s", got, sorted)
	}
}
