package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestListenWarnsOfTypedAPIKey: an API key typed on listen's command line
// is in the process list for every user of the host while listen runs;
// listen says so, and names the variable to use. Not for the key in
// DIALPAD_API_KEY, nor for an API on this host (the emulator's test key).
// (A --cpuprofile that cannot be written ends each run before any REST
// call, after the warning would be logged.)
func TestListenWarnsOfTypedAPIKey(t *testing.T) {
	const warning = "--api-key was given on the command line, where any user of this host can read it in the process list"
	noProfile := filepath.Join(t.TempDir(), "missing", "cpu.prof")
	for _, tc := range []struct {
		name string
		env  string // DIALPAD_API_KEY
		args []string
		warn bool
	}{
		{"typed", "", []string{"--api-key", "dp_typed_key_123"}, true},
		{"typed for sandbox", "", []string{"--env", "sandbox", "--api-key", "dp_typed_key_123"}, true},
		{"from the environment", "dp_env_key_123", nil, false},
		{"typed for the emulator", "", []string{"--api-base", "http://127.0.0.1:1", "--api-key", "dp_typed_key_123"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("DIALPAD_API_KEY", tc.env)
			args := append([]string{"listen", "--websocket-id", "5", "--forward-to", "http://127.0.0.1:1/hook",
				"--spool", filepath.Join(t.TempDir(), "x.spool"), "--cpuprofile", noProfile}, tc.args...)
			out, err := runCmd(t, args...)
			if err == nil || !strings.Contains(err.Error(), "--cpuprofile") {
				t.Fatalf("listen: %v; want the --cpuprofile error that ends it before any REST call", err)
			}
			if got := strings.Contains(out, warning); got != tc.warn {
				t.Errorf("warned: %v, want %v; output:\n%s", got, tc.warn, out)
			}
			if tc.warn && !strings.Contains(out, "set DIALPAD_API_KEY instead") {
				t.Errorf("the warning does not name DIALPAD_API_KEY:\n%s", out)
			}
			if strings.Contains(out, "dp_typed_key_123") || strings.Contains(out, "dp_env_key_123") {
				t.Errorf("the key is shown:\n%s", out)
			}
		})
	}
}
