package main

import (
	"fmt"
	"math"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// listenRanges are the meaningful values of listen's numeric flags, as
// their usage text states them; durations are in nanoseconds. Zero would
// otherwise silently mean the default for most of them, and a negative
// value nothing sensible.
var listenRanges = []flagRange{
	{"websocket-id", 0, math.MaxInt64, "a positive id"}, // 0: not given
	{"concurrency", 1, 4096, "1 to 4096"},               // a million workers took 581 MB idle

	{"max-attempts", 0, math.MaxInt64, "0 (until --max-age) or more"},
	{"timeout", 1, math.MaxInt64, "more than 0"},
	{"retry-wait-min", 1, math.MaxInt64, "more than 0"},
	{"retry-wait-max", 1, math.MaxInt64, "more than 0"},
	{"rotate-before", 1, math.MaxInt64, "more than 0"},
	{"ping-interval", 1, math.MaxInt64, "more than 0"},
	{"pong-wait", 1, math.MaxInt64, "more than 0"},
	{"max-conn-lifetime", 1, math.MaxInt64, "more than 0"},
	{"reconnect-wait-min", int64(time.Millisecond), int64(time.Hour), "1ms to 1h"},
	{"reconnect-wait-max", int64(time.Millisecond), int64(24 * time.Hour), "1ms to 24h"}, // doubling far beyond overflows
	{"dedupe-window", int64(time.Second), int64(24 * time.Hour), "1s to 24h"},
	{"max-frame-bytes", 1 << 10, maxFrameBytes, "1024 (1 KiB) to 67108864 (64 MiB); Dialpad's events are a few KiB"},
	{"drain-timeout", 1, math.MaxInt64, "more than 0"},
	{"memory-limit-mib", 0, 1 << 20, "0 (none) to 1048576 (1 TiB)"}, // MiB << 20 must not overflow
	{"queue-max-mib", 0, 1 << 20, "0 (no bound) to 1048576 (1 TiB)"},

	// More Ps than cores only add threads: 100000 once spun for minutes.
	{"procs", 0, int64(runtime.NumCPU()), procsWant},
	{"status-interval", 0, math.MaxInt64, "0 (never) or 100ms or more"}, // and not 1ns to 99ms: see checkRanges
	{"max-age", 1, math.MaxInt64, "more than 0"},
	{"keep-delivered", 0, math.MaxInt64, "0 (none) or more"},
	{"keep-delivered-for", 1, math.MaxInt64, "more than 0 (--keep-delivered 0 keeps none)"},
	{"target-id", 0, math.MaxInt64, "a positive id"}, // with --create; 0: not given
	{"log-buffer-bytes", 1, 1 << 30, "1 to 1073741824 (1 GiB)"},
}

// procsWant is the range of --procs: more Ps than cores only add threads.
var procsWant = fmt.Sprintf("0 (all cores) to %d (the cores this process may use)", runtime.NumCPU())

// minStatusInterval is the shortest --status-interval other than 0.
const minStatusInterval = 100 * time.Millisecond

// flagRange is the meaningful values of one numeric flag; durations are in
// nanoseconds.
type flagRange struct {
	flag     string
	min, max int64 // inclusive
	want     string
}

// checkRanges refuses a numeric flag of listen out of its range, before
// anything starts.
func checkRanges(c *cli.Context) error {
	if err := checkFlagRanges(c, listenRanges); err != nil {
		return err
	}
	// 0 means "not given" to the parser; given, it is no id either.
	if c.IsSet("websocket-id") && c.Int64("websocket-id") == 0 {
		return fmt.Errorf("%s 0: want a positive id", flagLabel(c, "websocket-id"))
	}
	// Status lines more often than ten a second flood the log (1ns wrote
	// 160,000 lines in 2s); 0 turns them off.
	if d := c.Duration("status-interval"); d > 0 && d < minStatusInterval {
		return fmt.Errorf("--status-interval %s: want 0 (never) or %s or more", d, minStatusInterval)
	}
	// The agent pings every --ping-interval and opens a replacement once
	// a pong is half --pong-wait overdue: a ping must be due, and
	// answered, before then, or every connection is replaced at each ping.
	if err := checkPingPong(c); err != nil {
		return err
	}
	if lo, hi := c.Duration("reconnect-wait-min"), c.Duration("reconnect-wait-max"); lo > hi {
		return fmt.Errorf("--reconnect-wait-min %s: want at most --reconnect-wait-max (%s)", lo, hi)
	}
	// Unless given, --retry-wait-min follows a lower --retry-wait-max.
	if lo, hi := c.Duration("retry-wait-min"), c.Duration("retry-wait-max"); c.IsSet("retry-wait-min") && lo > hi {
		return fmt.Errorf("--retry-wait-min %s: want at most --retry-wait-max (%s)", lo, hi)
	}
	return nil
}

// checkFlagRanges refuses a numeric flag of the command out of its range,
// naming the flag, the value given and the values it takes.
func checkFlagRanges(c *cli.Context, ranges []flagRange) error {
	for _, r := range ranges {
		var n int64
		switch v := c.Value(r.flag).(type) {
		case int:
			n = int64(v)
		case int64:
			n = v
		case time.Duration:
			n = int64(v)
		default:
			return fmt.Errorf("--%s: not a numeric flag of %s", r.flag, c.Command.Name)
		}
		if n < r.min || n > r.max {
			return fmt.Errorf("%s %v: want %s", flagLabel(c, r.flag), c.Value(r.flag), r.want)
		}
	}
	return nil
}

// checkHandlerURL refuses a handler URL that could never be dialled: one
// that does not parse, is not an absolute http or https URL, or whose port
// is not 1 to 65535 (forward.New checks the rest), so it fails at start
// rather than in endless retries. Its errors never show the value: one
// that is not a URL may be a secret given to the wrong flag, and a URL's
// path may hold a token as well as its password and query.
func checkHandlerURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil && strings.Contains(err.Error(), "invalid port") && !strings.Contains(raw, "@"):
		return fmt.Errorf("its port is not a number from 1 to 65535 %s", notShown)
	case err != nil:
		return fmt.Errorf("it does not parse as a URL %s; a '#', '/', '?' or '@' in a password must be percent-encoded", notShown)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("not an absolute http or https URL such as http://localhost:3000/hook %s", notShown)
	}
	return checkPort(u)
}

// checkPort refuses a URL whose port is not 1 to 65535, showing the port
// only (url.Parse leaves nothing but digits there).
func checkPort(u *url.URL) error {
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %s: want 1 to 65535", clip(p, 12))
		}
	}
	return nil
}

// checkPingPong refuses a --ping-interval of half --pong-wait or more,
// naming the flag given: --pong-wait alone is refused as too short for the
// default interval, not blamed on an interval never typed.
func checkPingPong(c *cli.Context) error {
	ping, pong := c.Duration("ping-interval"), c.Duration("pong-wait")
	if 2*ping < pong {
		return nil
	}
	if c.IsSet("pong-wait") && !c.IsSet("ping-interval") {
		return fmt.Errorf("--pong-wait %s: want more than twice --ping-interval (%s, its default)", pong, ping)
	}
	return fmt.Errorf("--ping-interval %s: want less than half --pong-wait (%s)", ping, pong)
}

// parseStopOnStatus reads --stop-on-status: HTTP statuses from 400 to 599,
// comma-separated, or none.
func parseStopOnStatus(v string) ([]int, error) {
	if strings.TrimSpace(v) == "none" {
		return []int{}, nil
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 400 || n > 599 {
			return nil, fmt.Errorf("--stop-on-status %q: want HTTP statuses from 400 to 599, comma-separated, such as 401,403,404, or none", clip(v, 40))
		}
		out = append(out, n)
	}
	return out, nil
}
