package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"

	"github.com/dialpad-tunnel/dialpad-tunnel/atomicfile"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
)

// handlerRecord is the file beside a route's spool file naming the handler
// its events are for, so that the next run gives the file to the route of
// that handler whatever the order of its --route flags. It holds no
// secret, nor a hash of one: the URL without its user information and
// query, to show, and a hash of that URL to match it by (handlerOf).
type handlerRecord struct {
	URLSHA256 string `json:"url_sha256"`
	URL       string `json:"url"`
}

// handlerRecordPath is the handler record of the spool file at path. It
// does not end in the spool extension, so no spool lookup takes it.
func handlerRecordPath(path string) string {
	return path + ".handler.json"
}

// handlerOf is the record of the handler at raw, matched by the URL it
// shows (displayURL) as the duplicate --route check compares URLs
// (sameURL: scheme and host in any case, no default port). Its user
// information and query are left out: a password or a token that changes
// (rotated) keeps the handler its spool, and the record holds no hash of
// one, which a guess could be checked against. Routes whose URLs differ in
// those only take their files in the order given.
func handlerOf(raw string) handlerRecord {
	shown := displayURL(raw)
	sum := sha256.Sum256([]byte(sameURL(shown)))
	return handlerRecord{URLSHA256: hex.EncodeToString(sum[:]), URL: shown}
}

// displayURL is raw for a log line or a handler record: without its user
// information and query, and redacted as the start-up line shows it.
func displayURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid url>"
	}
	u.User, u.RawQuery, u.ForceQuery = nil, "", false
	return forward.RedactURL(u)
}

// readHandler reads the handler record of the spool file at path; ok is
// false when there is none to go by: the spool file does not exist (a
// record left by a run that stored nothing names no events), it was
// written by a version that kept no record, or the record is unreadable.
func readHandler(path string) (h handlerRecord, ok bool) {
	if _, err := os.Stat(path); err != nil {
		return h, false
	}
	b, err := os.ReadFile(handlerRecordPath(path))
	if err != nil || json.Unmarshal(b, &h) != nil || h.URLSHA256 == "" {
		return handlerRecord{}, false
	}
	return h, true
}

// writeHandler records h as the handler of the spool file at path, unless
// it is recorded already. The caller holds the spool's lock.
func writeHandler(path string, h handlerRecord) error {
	if old, ok := readHandler(path); ok && old == h {
		return nil
	}
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(handlerRecordPath(path), append(b, '\n')); err != nil {
		return fmt.Errorf("spool: %s: record its handler: %w", path, err)
	}
	return nil
}
