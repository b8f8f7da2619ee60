package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dialpad-tunnel/dialpad-tunnel/agent"
	"github.com/dialpad-tunnel/dialpad-tunnel/console"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
	"github.com/urfave/cli/v2"
)

// timeLayout is how the events commands print times: RFC 3339 with ms.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(timeLayout)
}

// listTable prints one line per record.
func listTable(w io.Writer, recs []spool.Record) error {
	rows := make([][]string, len(recs))
	for i, r := range recs {
		key := console.Safe(keyShown(r.Key))
		if r.Detail != "" {
			key += " (" + console.Safe(r.Detail) + ")"
		}
		rows[i] = []string{strconv.FormatUint(r.Seq, 10), short(r.ID, spool.MinPrefix), string(r.State), dash(console.Safe(r.Type)), key,
			stamp(r.Received), strconv.Itoa(spool.CountAttempts(r.Attempts)), clip(console.Safe(last(r)), 72)}
	}
	return table(w, "SEQ ID STATE TYPE KEY RECEIVED ATTEMPTS LAST", rows)
}

// last is a record's latest news: why it is dead, else its last attempt.
// A dead letter's reason begins with the handler's URL, the same for
// every event of the spool: left out here (events show has it), as in 72
// columns it left no room for the rest, "(not retried)" or "gave up after
// 5 attempts".
func last(r spool.Record) string {
	if r.State == spool.Dead && r.Reason != "" {
		if rest, ok := strings.CutPrefix(r.Reason, "forward: POST "); ok {
			if _, why, ok := strings.Cut(rest, ": "); ok {
				return why
			}
		}
		return r.Reason
	}
	a, ok := spool.LastAttempt(r.Attempts)
	if !ok {
		return "-"
	}
	return attemptOutcome(a)
}

func attemptOutcome(a spool.Attempt) string {
	switch {
	case a.Status != 0 && a.Error != "":
		return strconv.Itoa(a.Status) + " " + a.Error
	case a.Status != 0:
		return strconv.Itoa(a.Status)
	case a.Error != "":
		return a.Error
	}
	return "-"
}

func short(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// headersOf are the headers listen sends with r, with its default flags
// (--content-type-*, --user-agent and --header change them); the attempt
// header, numbered on across restarts and from 1 again after a replay,
// is left out.
func headersOf(r spool.Record) [][2]string {
	ct := forward.DefaultContentTypeJSON
	switch {
	case r.JWT:
		ct = forward.DefaultContentTypeJWT
	case r.Raw():
		ct = forward.ContentTypeRaw
	}
	h := [][2]string{
		{"Content-Type", ct},
		{"User-Agent", "dialpad-tunnel/" + version},
		{forward.DefaultIDHeader, r.ID},
		{forward.DefaultEventIDHeader, agent.EventID(r.Body, r.JWT)},
	}
	if r.Type != "" {
		h = append(h, [2]string{forward.DefaultTypeHeader, r.Type})
	}
	return h
}

// showText prints one record: its fields, headers, body and attempts.
func showText(w io.Writer, r spool.Record) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(tw, "%s\t%s\n", name, console.Safe(value))
		}
	}
	field("delivery id", r.ID)
	field("state", string(r.State))
	field("reason", r.Reason)
	field("seq", strconv.FormatUint(r.Seq, 10))
	field("type", strings.TrimSpace(r.Type+" "+r.Detail))
	field("key", keyShown(r.Key))
	field("form", form(r))
	field("source", r.Source)
	field("target", r.Target)
	field("received", stamp(r.Received))
	field("finished", stamp(r.Finished))
	if r.Replays > 0 {
		field("replays", strconv.Itoa(r.Replays))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nheaders (as listen sends them with its default flags; plus X-Dialpad-Tunnel-Attempt: 1, 2, …)")
	for _, h := range headersOf(r) {
		fmt.Fprintf(w, "  %s: %s\n", h[0], console.Safe(h[1]))
	}
	if why := escapedFor(r.Body); why == "" {
		fmt.Fprintf(w, "\nbody (%d bytes, exactly as received)\n", len(r.Body))
		w.Write(r.Body)
		if len(r.Body) == 0 || r.Body[len(r.Body)-1] != '\n' {
			fmt.Fprintln(w)
		}
	} else {
		// Control characters (an escape sequence, say) and bytes that are
		// not UTF-8 are not written to a terminal as they are; --json
		// gives the exact bytes.
		exactly := "--json gives it exactly"
		if !utf8.Valid(r.Body) {
			exactly += ", as body_base64"
		}
		fmt.Fprintf(w, "\nbody (%d bytes, escaped: %s; %s)\n%s\n", len(r.Body), why, exactly, strconv.Quote(string(r.Body)))
	}
	n := spool.CountAttempts(r.Attempts)
	if n > len(r.Attempts) {
		fmt.Fprintf(w, "\nattempts: %d (the first %d and the last %d are kept)\n", n, spool.KeptFirst, spool.KeptLast)
	} else {
		fmt.Fprintf(w, "\nattempts: %d\n", n)
	}
	if len(r.Attempts) == 0 {
		return nil
	}
	rows := make([][]string, len(r.Attempts))
	i := 0 // attempts before this row
	for j, a := range r.Attempts {
		if a.Omitted > 0 {
			rows[j] = []string{fmt.Sprintf("%d-%d", i+1, i+a.Omitted), stamp(a.At), "-", a.Duration.Round(time.Millisecond).String(),
				fmt.Sprintf("%d attempts not kept", a.Omitted)}
			i += a.Omitted
			continue
		}
		i++
		status := "-"
		if a.Status != 0 {
			status = strconv.Itoa(a.Status)
		}
		rows[j] = []string{strconv.Itoa(i), stamp(a.At), status, a.Duration.Round(time.Microsecond).String(), dash(attemptNote(a))}
	}
	return table(w, "# TIME STATUS DURATION ERROR", rows)
}

// attemptNote is the ERROR column of an attempt: its error, and the wait
// its answer asked for.
func attemptNote(a spool.Attempt) string {
	note := console.Safe(a.Error)
	if a.RetryAfter > 0 {
		if note != "" {
			note += "; "
		}
		note += "Retry-After " + retryAfterShown(a.RetryAfter)
	}
	return note
}

// longRetryAfter is the longest Retry-After wait shown as it is: listen
// waits at most --retry-wait-max anyway, and a huge one (an answer's
// 99999999999999999999 saturates at 2562047h47m16.854775807s) reads as
// a mistake of ours.
const longRetryAfter = 24 * time.Hour

// retryAfterShown is the wait an answer asked for, as attemptNote shows it.
func retryAfterShown(d time.Duration) string {
	if d > longRetryAfter {
		return "more than 24h (listen waits at most --retry-wait-max)"
	}
	return d.String()
}

// keyShown is an ordering key as the events commands show it: older
// agents keyed an event whose type they could not tell "other:", which
// read as cut off; the agent now keys it "other".
func keyShown(key string) string {
	if key == "other:" {
		return "other"
	}
	return key
}

// escapedFor says why b cannot go to a terminal as it is, or "" when it
// can: valid UTF-8, printable but for newlines and tabs. The reason is
// the true one: a body of JSON with bytes that are not UTF-8 holds no
// control character.
func escapedFor(b []byte) string {
	var control bool
	var other rune = -1 // the first unprintable character that is not a control character
	for _, r := range string(b) {
		switch {
		case unicode.IsPrint(r) || r == '\n' || r == '\r' || r == '\t':
		case unicode.IsControl(r):
			control = true
		case other < 0:
			other = r // a format character, a space other than ' ', …
		}
	}
	var holds []string
	if control {
		holds = append(holds, "control characters")
	}
	if other >= 0 {
		holds = append(holds, fmt.Sprintf("unprintable characters (such as %U)", other))
	}
	invalid := !utf8.Valid(b)
	switch {
	case invalid && len(holds) > 0:
		return "it is not valid UTF-8 and holds " + strings.Join(holds, " and ")
	case invalid:
		return "it is not valid UTF-8"
	case len(holds) > 0:
		return "it holds " + strings.Join(holds, " and ")
	}
	return ""
}

// form is how r's body came: a JWT, JSON, or raw (neither: a frame kept
// although no event).
func form(r spool.Record) string {
	switch {
	case r.JWT:
		return "jwt"
	case r.Raw():
		return "raw"
	}
	return "json"
}

// eventJSON is a record as the events commands print it with --json.
type eventJSON struct {
	Seq    uint64      `json:"seq"`
	ID     string      `json:"id"`
	State  spool.State `json:"state"`
	Type   string      `json:"type,omitempty"`
	Detail string      `json:"detail,omitempty"`
	Key    string      `json:"key"`
	// KeyBase64 is the key's bytes when they are not UTF-8 (an id with
	// such bytes): Key then has U+FFFD in their place, and two keys could
	// read as one.
	KeyBase64 string        `json:"key_base64,omitempty"`
	Form      string        `json:"form"`
	Source    string        `json:"source,omitempty"`
	Target    string        `json:"target,omitempty"`
	Received  string        `json:"received"`
	Finished  string        `json:"finished,omitempty"`
	Reason    string        `json:"reason,omitempty"`
	Replays   int           `json:"replays"`
	Attempts  []attemptJSON `json:"attempts"`
	// Headers and Body are printed by show only.
	Headers map[string]string `json:"headers,omitempty"`
	Body    *string           `json:"body,omitempty"`
	// BodyBase64 replaces Body for a body that is not UTF-8 (a JSON
	// string would change its bytes): a frame kept although not an event.
	BodyBase64 string `json:"body_base64,omitempty"`
}

type attemptJSON struct {
	At         string  `json:"at"`
	Status     int     `json:"status,omitempty"`
	DurationMS float64 `json:"duration_ms"`
	Error      string  `json:"error,omitempty"`
	// RetryAfterMS is the wait the answer asked for (Retry-After).
	RetryAfterMS float64 `json:"retry_after_ms,omitempty"`
	// Omitted, when set, makes the entry a summary of that many attempts
	// not kept, from At for DurationMS.
	Omitted int `json:"omitted,omitempty"`
}

func toJSON(r spool.Record, full bool) eventJSON {
	e := eventJSON{
		Seq: r.Seq, ID: r.ID, State: r.State, Type: r.Type, Detail: r.Detail, Key: r.Key, Form: form(r), Source: r.Source, Target: r.Target,
		Received: stamp(r.Received), Finished: stamp(r.Finished), Reason: r.Reason, Replays: r.Replays,
		Attempts: make([]attemptJSON, len(r.Attempts)),
	}
	if !utf8.ValidString(r.Key) {
		e.KeyBase64 = base64.StdEncoding.EncodeToString([]byte(r.Key))
	}
	for i, a := range r.Attempts {
		e.Attempts[i] = attemptJSON{At: stamp(a.At), Status: a.Status, DurationMS: float64(a.Duration.Microseconds()) / 1000, Error: a.Error,
			RetryAfterMS: float64(a.RetryAfter.Microseconds()) / 1000, Omitted: a.Omitted}
	}
	if full {
		e.Headers = map[string]string{}
		for _, h := range headersOf(r) {
			e.Headers[h[0]] = h[1]
		}
		if utf8.Valid(r.Body) {
			body := string(r.Body)
			e.Body = &body
		} else {
			e.BodyBase64 = base64.StdEncoding.EncodeToString(r.Body)
		}
	}
	return e
}

// warnTail warns on stderr, in listen's log format, of an unfinished write
// at the end of the spool file: cut off by replay or purge to write there,
// else left as it is.
func warnTail(c *cli.Context, path string, tail spool.Tail) {
	if tail.Bytes == 0 {
		return
	}
	msg := "spool: an unfinished write at the end of the file is left out: a crash or a failed write (a full disk) came before its sync, so none of its events was counted as received; " +
		"listen cuts it off at its next start (if no crash happened, the bytes are damaged: copy the file first to keep them)"
	if tail.Cut {
		msg = "spool: cut off an unfinished write at the end of the file: a crash or a failed write (a full disk) came before its sync, so none of its events was counted as received (if no crash happened, the bytes were damaged)"
	}
	log := slog.New(console.NewHandler(c.App.ErrWriter, slog.LevelWarn))
	log.Warn(msg, "spool", path, "offset", tail.Offset, "bytes", tail.Bytes)
}

// noteRouteSpools tells, on stderr, of the route spool files next to the
// spool at path when no --route chose one: their events are not in it.
func noteRouteSpools(c *cli.Context, path string) {
	if c.String("route") != "" {
		return
	}
	files, err := routeFiles(path)
	if err != nil || len(files) == 0 {
		return
	}
	w := c.App.ErrWriter
	fmt.Fprintf(w, "note: the spools of listen's --route handlers are next to %s; add --route NAME to see one:\n", path)
	width := 0
	for _, f := range files {
		width = max(width, len(f.Route))
	}
	for _, f := range files {
		fmt.Fprintf(w, "  --route %-*s  %s  (%s)\n", width, f.Route, f.Path, routeFileSummary(f.Path))
	}
}

// routeFileSummary says how many events of each state the spool file at
// path holds, and the handler it was stored for where that is recorded.
func routeFileSummary(path string) string {
	counts := "cannot be read"
	var denied *spool.AccessError
	if n, err := stateCounts(path); err == nil {
		counts = fmt.Sprintf("%d pending, %d dead, %d delivered", n[spool.Pending], n[spool.Dead], n[spool.Delivered])
	} else if errors.As(err, &denied) {
		counts += " by this user: " + denied.Why()
	}
	if h, ok := readHandler(path); ok {
		counts += "; handler " + h.URL
	}
	return counts
}
