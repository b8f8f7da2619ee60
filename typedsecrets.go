package main

import (
	"log/slog"
	"net"
	"net/url"
	"strings"

	"github.com/urfave/cli/v2"
)

// typedSecretFlags are listen's flags that hold a secret, each with the
// environment variable that can carry it instead.
var typedSecretFlags = []struct{ flag, env string }{
	{"api-key", "DIALPAD_API_KEY"},
	{"secret", "DIALPAD_WEBSOCKET_SECRET"},
	{"verify-secret", "DIALPAD_VERIFY_SECRET"},
	{"sign-secret", "DIALPAD_SIGN_SECRET"},
	{"standard-webhooks-secret", "DIALPAD_STANDARD_WEBHOOKS_SECRET"},
}

// warnTypedSecrets warns of each secret given on listen's command line,
// which every local user can read in the process list (ps,
// /proc/PID/cmdline) for as long as listen runs, where its environment
// variable is the user's own. Not for an API on this host (the emulator,
// whose test key its own `listen:` line types).
func warnTypedSecrets(c *cli.Context, log *slog.Logger) {
	if localAPI(c.String("api-base")) {
		return
	}
	for _, s := range typedSecretFlags {
		if typedFlag(c, s.flag) {
			log.Warn("--"+s.flag+" was given on the command line, where any user of this host can read it in the process list (ps, /proc/PID/cmdline) while listen runs: set "+s.env+" instead (not shown)", "flag", "--"+s.flag, "env", s.env)
		}
	}
}

// localAPI reports whether base, an --api-base, is on this host.
func localAPI(base string) bool {
	if base == "" {
		return false // Dialpad's
	}
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
