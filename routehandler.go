package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"

	"github.com/dialpad-tunnel/dialpad-tunnel/agent"
	"github.com/dialpad-tunnel/dialpad-tunnel/atomicfile"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
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

// recordedQueue is a route's spool file whose handler record is written
// (record) only once the run is under way: before the first event is
// stored in it or handed out for delivery from it, or when the first
// connection opens (runListen), whichever is first. A run that stops
// before then (a refused API key, a wrong websocket id, an error found
// late) leaves the record as it was, so a mistyped URL on such a run does
// not become the file's handler. As the write comes before any event of
// the new handler is in the file, a crash at any point leaves no record
// naming a handler the file's events are not for.
type recordedQueue struct {
	agent.Queue
	path string
	h    handlerRecord
	log  *slog.Logger
	once sync.Once
}

// record writes the handler record once; every call waits for that write.
// A record that cannot be written (a full disk) is logged, and the events
// are stored all the same: none that reached the agent is given up for
// it. The file then keeps its old record until a later run writes it.
func (q *recordedQueue) record() {
	q.once.Do(func() {
		if err := writeHandler(q.path, q.h); err != nil {
			q.log.Error("the spool's handler record could not be written: it still names the previous handler, and a later run may take this file for that handler's", "spool", q.path, "handler", q.h.URL, "reason", err.Error())
		}
	})
}

// Append stores ev once the record names this run's handler: an event is
// never in a file recorded for another (unless the record could not be
// written).
func (q *recordedQueue) Append(ev spool.Event, committed func(spool.Event)) error {
	q.record()
	return q.Queue.Append(ev, committed)
}

// Reject keeps ev as a dead letter once the record names this run's
// handler, as Append.
func (q *recordedQueue) Reject(ev spool.Event, reason string, replayable bool) error {
	q.record()
	return q.Queue.Reject(ev, reason, replayable)
}

// Next hands out the next event, recording the handler first: its events
// go to this run's handler from now on.
func (q *recordedQueue) Next(ctx context.Context) (spool.Event, error) {
	ev, err := q.Queue.Next(ctx)
	if err == nil {
		q.record()
	}
	return ev, err
}
