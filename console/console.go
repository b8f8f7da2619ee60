// Package console renders log records as short human lines, in the spirit
// of `stripe listen`: "-->" when an event arrives, "<--" when its delivery
// ends, and a plain levelled line for everything else.
package console

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Handler is a slog.Handler writing one line per record to an io.Writer.
type Handler struct {
	mu    *sync.Mutex
	w     io.Writer
	level slog.Leveler
	attrs []slog.Attr
}

// NewHandler returns a Handler writing records at or above level to w.
func NewHandler(w io.Writer, level slog.Leveler) *Handler {
	return &Handler{mu: &sync.Mutex{}, w: w, level: level}
}

// Enabled reports whether records at l are written.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

// WithAttrs returns a Handler that adds attrs to every line.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &h2
}

// WithGroup is not used by this program; groups are flattened.
func (h *Handler) WithGroup(string) slog.Handler { return h }

// Handle writes r as one line.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	var b bytes.Buffer
	b.WriteString(r.Time.Format("15:04:05.000"))
	b.WriteByte(' ')
	attrs := make(map[string]string, r.NumAttrs())
	var order []string
	collect := func(a slog.Attr) bool {
		if _, ok := attrs[a.Key]; !ok {
			order = append(order, a.Key)
		}
		attrs[a.Key] = a.Value.Resolve().String()
		return true
	}
	for _, a := range h.attrs {
		collect(a)
	}
	r.Attrs(collect)
	var lead []string // attrs shown in the head of the line, not repeated as k=v
	switch r.Message {
	case "event arrived":
		b.WriteString("--> ")
		b.WriteString(join(head(attrs["type"]), head(attrs["detail"]), shortID(attrs["id"])))
		lead = []string{"type", "detail", "id"}
	case "event delivered":
		b.WriteString("<-- [" + attrs["status"] + "] ")
		b.WriteString(join(head(attrs["type"]), shortID(attrs["id"])))
		lead = []string{"type", "status", "id"}
	case "delivery failed":
		status := attrs["status"]
		if status == "0" {
			status = "---"
		}
		b.WriteString("<-- [" + status + "] FAILED " + join(head(attrs["type"]), shortID(attrs["id"])))
		lead = []string{"type", "status", "id"}
	default:
		b.WriteString(levelTag(r.Level))
		b.WriteByte(' ')
		b.WriteString(r.Message)
	}
	for _, k := range order {
		if contains(lead, k) || attrs[k] == "" || (k == "route" && attrs[k] == "default") {
			continue // the default route is the only one for most users: not worth a column
		}
		b.WriteString("  ")
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(quote(attrs[k]))
	}
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(b.Bytes())
	return err
}

func join(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return "event"
	}
	return strings.Join(out, " ")
}

// shortID shows the first 8 characters of a delivery id in brackets, as
// stripe listen does; the JSON log keeps the whole id.
func shortID(id string) string {
	if len(id) > 8 {
		id = id[:8]
	}
	if id == "" {
		return ""
	}
	return "[" + id + "]"
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

func levelTag(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARN "
	case l >= slog.LevelInfo:
		return "INFO "
	}
	return "DEBUG"
}

// quote quotes a value that has spaces, quotes, '=' or anything not
// printable (a newline would forge a line, an escape sequence would drive
// the terminal: event fields come from outside).
func quote(s string) string {
	if strings.ContainsAny(s, " \t\"=") || !printable(s) {
		return strconv.Quote(s)
	}
	return s
}

// Safe is s for a terminal: as is if it is valid UTF-8 and printable,
// else quoted with Go's escapes, so an escape sequence or a newline in an
// event's fields cannot drive the terminal or forge a line.
func Safe(s string) string {
	if printable(s) {
		return s
	}
	return strconv.Quote(s)
}

// head is a value shown in the head of a line: as is, unless it has a
// space or is not printable.
func head(s string) string {
	if printable(s) && !strings.ContainsAny(s, " =") {
		return s
	}
	return strconv.Quote(s)
}

func printable(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}

// Clip cuts s to at most n bytes on a rune boundary, marking the cut, for
// a message quoting text from outside (an answer, a parser's error), which
// may be long. Invalid UTF-8 becomes U+FFFD first.
func Clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
