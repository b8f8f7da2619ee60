package main

import (
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// runCLI runs one short command to its end and returns what it printed.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	r := start(t, args...)
	err := r.wait(t, 20*time.Second)
	return r.stdout.String(), err
}

// mustCLI is cli for a command that must succeed.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("dialpad-tunnel %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// listJSON runs `events list --json` with args.
func listJSON(t *testing.T, args ...string) []eventJSON {
	t.Helper()
	out := mustCLI(t, append([]string{"events", "list", "--json"}, args...)...)
	var recs []eventJSON
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("events list --json printed no JSON array: %v\n%s", err, out)
	}
	return recs
}

// TestEventsDeadLetterReplay: a handler answering 400 makes a dead letter
// after one attempt, listed with the 400 once the agent stopped; after the
// handler is fixed, `events replay --dead` and a new `listen` deliver it
// with the same delivery id, and the delivered history shows both attempts.
func TestEventsDeadLetterReplay(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	var status atomic.Int32
	status.Store(http.StatusBadRequest)
	h := newHook(t, func(int) int { return int(status.Load()) })
	path := filepath.Join(t.TempDir(), "events.spool")
	args := listenArgs(srv, wsID, h.URL, "--spool", path, "--retry-wait-max", "20ms")

	r := start(t, args...)
	r.waitConnected(t, srv, 1)
	ev := dialpadtest.NewGenerator(7).Contact()
	srv.Publish("contact", ev)
	r.stdout.waitFor(t, "FAILED contact", 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("listen: %v", err)
	}
	first := h.waitRequests(t, 1, 0)
	if len(first) != 1 {
		t.Fatalf("handler saw %d requests for a 400, want 1", len(first))
	}
	id := first[0].header.Get("X-Dialpad-Tunnel-Delivery-Id")

	out := mustCLI(t, "events", "list", "--dead", "--spool", path)
	for _, want := range []string{"dead", id[:8], "contact", "400"} {
		mustContain(t, out, want)
	}
	dead := listJSON(t, "--dead", "--spool", path)
	if len(dead) != 1 || dead[0].ID != id || len(dead[0].Attempts) != 1 || dead[0].Attempts[0].Status != 400 || dead[0].Reason == "" {
		t.Fatalf("events list --dead --json = %+v, want the event with one 400 attempt and a reason", dead)
	}

	status.Store(http.StatusOK) // the handler is fixed
	mustContain(t, mustCLI(t, "events", "replay", "--dead", "--spool", path), "put back 1 event")
	if p := listJSON(t, "--pending", "--spool", path); len(p) != 1 || p[0].ID != id || p[0].Replays != 1 {
		t.Fatalf("pending after replay = %+v", p)
	}

	r = start(t, args...)
	got := h.waitRequests(t, 2, 10*time.Second)
	r.stdout.waitFor(t, "<-- [200] contact", 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("listen after replay: %v", err)
	}
	if string(got[1].body) != string(ev) || got[1].header.Get("X-Dialpad-Tunnel-Delivery-Id") != id {
		t.Fatalf("replayed delivery: id %q body %.60q; want id %q and the event's exact bytes",
			got[1].header.Get("X-Dialpad-Tunnel-Delivery-Id"), got[1].body, id)
	}

	delivered := listJSON(t, "--delivered", "--spool", path)
	if len(delivered) != 1 || delivered[0].ID != id || delivered[0].State != "delivered" || delivered[0].Replays != 1 ||
		len(delivered[0].Attempts) != 2 || delivered[0].Attempts[0].Status != 400 || delivered[0].Attempts[1].Status != 200 {
		t.Fatalf("events list --delivered --json = %+v, want the event with its 400 and 200 attempts", delivered)
	}
	mustContain(t, mustCLI(t, "events", "list", "--delivered", "--spool", path), id[:8])
	mustContain(t, mustCLI(t, "events", "list", "--dead", "--spool", path), "no dead events")

	show := mustCLI(t, "events", "show", "--spool", path, id[:8])
	for _, want := range []string{"X-Dialpad-Tunnel-Delivery-Id: " + id, "Content-Type: application/json",
		"X-Dialpad-Tunnel-Event-Type: contact", "\n" + string(ev) + "\n", "attempts: 2", "400", "200", "replays"} {
		mustContain(t, show, want)
	}
	var full eventJSON
	if err := json.Unmarshal([]byte(mustCLI(t, "events", "show", "--json", "--spool", path, id)), &full); err != nil {
		t.Fatal(err)
	}
	if full.Body == nil || *full.Body != string(ev) || full.Headers["X-Dialpad-Tunnel-Delivery-Id"] != id {
		t.Fatalf("events show --json = %+v, want the exact body and the delivery id header", full)
	}

	mustContain(t, mustCLI(t, "events", "purge", "--delivered", "--spool", path), "purged 1 delivered event")
	if _, err := runCLI(t, "events", "show", "--spool", path, id); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("show after purge = %v, want a not-found error naming the file", err)
	}
}

// TestSpoolCorrupt: a spool file that is garbage, or whose records are,
// stops listen and the events commands with an error naming the file; no
// panic, and the file is left as it was for the user to inspect.
func TestSpoolCorrupt(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, nil)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.spool")
	junk := []byte(strings.Repeat("\x00\xffnot a spool\n", 2048))
	if err := os.WriteFile(garbage, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	badRecord := filepath.Join(dir, "bad-record.spool")
	writeRawSpool(t, badRecord, []byte("\x01\x01\x00\xffthis is not a record"))
	directory := filepath.Join(dir, "a-directory.spool")
	if err := os.Mkdir(directory, 0o700); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ name, path, want string }{
		{"garbage", garbage, "cannot be opened as a spool"},
		{"bad record", badRecord, "corrupt record 1"},
		{"directory", directory, "cannot be opened as a spool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, args := range [][]string{
				listenArgs(srv, wsID, h.URL, "--spool", tc.path),
				{"events", "list", "--spool", tc.path},
				{"events", "show", "--spool", tc.path, "whatever-id"},
			} {
				out, err := runCLI(t, args...)
				if err == nil || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s %s = %v, want an error naming the file and saying %q\n%s", args[0], args[1], err, tc.want, out)
				}
			}
		})
	}
	if b, err := os.ReadFile(garbage); err != nil || string(b) != string(junk) {
		t.Errorf("the garbage spool was changed (%v): its bytes must stay for the user", err)
	}
	if n := len(h.waitRequests(t, 0, 0)); n != 0 {
		t.Errorf("handler got %d requests from a corrupt spool", n)
	}
}

// writeRawSpool writes a spool file with one batch holding one frame
// around payload, as is, both with good checksums.
func writeRawSpool(t *testing.T, path string, payload []byte) {
	t.Helper()
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	frame := binary.LittleEndian.AppendUint32(nil, uint32(len(payload)))
	frame = binary.LittleEndian.AppendUint32(frame, crc32.Checksum(payload, castagnoli))
	frame = append(frame, payload...)
	batch := binary.LittleEndian.AppendUint32([]byte("DPTB"), uint32(len(frame)))
	batch = binary.LittleEndian.AppendUint32(batch, crc32.Checksum(frame, castagnoli))
	if err := os.WriteFile(path, append(append([]byte("dialpad-tunnel\x00\x03"), batch...), frame...), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestEventsSpoolInUse: while listen holds the spool, events list reads it
// and the commands that change it refuse with a message that says so and
// names the file.
func TestEventsSpoolInUse(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, nil)
	path := filepath.Join(t.TempDir(), "events.spool")
	r := start(t, listenArgs(srv, wsID, h.URL, "--spool", path)...)
	r.waitConnected(t, srv, 1)
	mustContain(t, mustCLI(t, "events", "list", "--spool", path), "no pending, dead, delivered events")
	for _, args := range [][]string{
		{"events", "replay", "--dead", "--spool", path},
		{"events", "purge", "--dead", "--spool", path},
	} {
		_, err := runCLI(t, args...)
		if err == nil || !strings.Contains(err.Error(), "the spool is in use by a running agent: stop it first") ||
			!strings.Contains(err.Error(), path) {
			t.Errorf("%s while listen runs = %v, want the in-use message naming the file", strings.Join(args[:2], " "), err)
		}
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	mustContain(t, mustCLI(t, "events", "list", "--spool", path), "no pending, dead, delivered events")
}

// TestEventsDefaultSpool: without --spool, the events commands find the
// file listen used for the same sources, or the only spool there is, and
// ask for --spool when there are several.
func TestEventsDefaultSpool(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	spools := filepath.Join(state, "dialpad-tunnel", "spool")
	if _, err := runCLI(t, "events", "list"); err == nil || !strings.Contains(err.Error(), "no spool in "+spools) {
		t.Fatalf("events list with no spool = %v, want one naming %s", err, spools)
	}

	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, func(int) int { return http.StatusGone })
	r := start(t, listenArgs(srv, wsID, h.URL)...)
	r.waitConnected(t, srv, 1)
	srv.Publish("sms", dialpadtest.NewGenerator(9).SMS())
	r.stdout.waitFor(t, "FAILED sms", 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}

	bySource := listJSON(t, "--dead", "--api-base", srv.URL(), "--websocket-id", strconv.FormatInt(wsID, 10))
	only := listJSON(t, "--dead")
	if len(bySource) != 1 || len(only) != 1 || only[0].ID != bySource[0].ID || only[0].Attempts[0].Status != http.StatusGone {
		t.Fatalf("dead by source = %+v, the only spool = %+v; want the one 410 event in both", bySource, only)
	}
	if _, err := runCLI(t, "events", "list", "--websocket-id", "999"); err == nil || !strings.Contains(err.Error(), "dialpad.com-websocket-999.spool") {
		t.Fatalf("events list for another websocket = %v, want an error naming its default file", err)
	}

	other := filepath.Join(spools, "other.spool")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := runCLI(t, "events", "list")
	if err == nil || !strings.Contains(err.Error(), "--spool") || !strings.Contains(err.Error(), other) {
		t.Fatalf("events list with two spools = %v, want a list of them and a request for --spool", err)
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "1h", want: now.Add(-time.Hour)},
		{in: "90s", want: now.Add(-90 * time.Second)},
		{in: "2026-11-27T09:30:00.250+01:00", want: time.Date(2026, 11, 27, 8, 30, 0, 250e6, time.UTC)},
		{in: "yesterday", bad: true},
		{in: "-1h", bad: true},
	} {
		got, err := parseSince(tc.in, now)
		if tc.bad != (err != nil) || !tc.bad && !got.Equal(tc.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v (error: %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

// TestEventsReplayOlderThanMaxAge: a dead letter replayed after --max-age
// has passed since it arrived must still be delivered, because the user
// asked for it: --max-age counts from the replay (the record keeps its
// original Received time for display).
func TestEventsReplayOlderThanMaxAge(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	var status atomic.Int32
	status.Store(http.StatusBadRequest)
	h := newHook(t, func(int) int { return int(status.Load()) })
	path := filepath.Join(t.TempDir(), "events.spool")
	const maxAge = 300 * time.Millisecond
	args := listenArgs(srv, wsID, h.URL, "--spool", path, "--max-age", maxAge.String())

	r := start(t, args...)
	r.waitConnected(t, srv, 1)
	srv.Publish("contact", dialpadtest.NewGenerator(8).Contact())
	r.stdout.waitFor(t, "FAILED contact", 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	dead := listJSON(t, "--dead", "--spool", path)
	if len(dead) != 1 {
		t.Fatalf("dead = %+v", dead)
	}
	received, err := time.Parse(timeLayout, dead[0].Received)
	if err != nil {
		t.Fatal(err)
	}
	<-time.After(time.Until(received.Add(maxAge))) // the event is now older than --max-age

	status.Store(http.StatusOK)
	mustCLI(t, "events", "replay", "--dead", "--spool", path)
	r = start(t, args...)
	h.waitRequests(t, 2, 10*time.Second)
	r.stdout.waitFor(t, "<-- [200] contact", 10*time.Second)
}
