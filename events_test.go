package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dialpad-tunnel/dialpad-tunnel/control"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
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
	// The reason without the handler's URL, which left no room for the
	// rest of it.
	for _, want := range []string{"dead", id[:8], "contact", "400 Bad Request (not retried)"} {
		mustContain(t, out, want)
	}
	if strings.Contains(out, "forward: POST") {
		t.Errorf("events list shows the handler's URL in the reason:\n%s", out)
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
	// A state turned off alone lists the others: --pending=false listed
	// every state, pending ones included.
	if notPending := listJSON(t, "--pending=false", "--spool", path); len(notPending) != 1 || notPending[0].State != "delivered" {
		t.Fatalf("events list --pending=false --json = %+v, want the delivered event", notPending)
	}
	mustContain(t, mustCLI(t, "events", "list", "--delivered=false", "--spool", path), "no pending or dead events")

	show := mustCLI(t, "events", "show", "--spool", path, id[:8])
	for _, want := range []string{"X-Dialpad-Tunnel-Delivery-Id: " + id, "Content-Type: application/json",
		"X-Dialpad-Tunnel-Event-Type: contact", "\n" + string(ev) + "\n", "attempts: 2", "400", "200", "replays"} {
		mustContain(t, show, want)
	}
	var full eventJSON
	if err := json.Unmarshal([]byte(mustCLI(t, "events", "show", id, "--json", "--spool", path)), &full); err != nil { // flags after the id
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

// TestEventsPurgeAnswerWithoutCounts: a running agent whose purge answer
// lacks the counts asked for (another version's, say) gets a clear error
// from events purge; it used to index past the answer's end and panic.
func TestEventsPurgeAnswerWithoutCounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	defer holdSpool(t, path)()
	ln, err := control.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		control.Serve(ln, control.Spool{Purge: func(context.Context, ...spool.State) ([]int, error) { return nil, nil }})
	}()
	defer func() { ln.Close(); <-served }()
	_, err = runCLI(t, "events", "purge", "--dead", "--delivered", "--spool", path)
	want := "events purge: the running listen on " + path + " answered without the counts asked for (a listen of another version?): see `events list --spool " + path + "`"
	if err == nil || err.Error() != want {
		t.Errorf("events purge against an answer without counts: %v, want %q", err, want)
	}
}

// TestEventsSpoolInUse: while listen holds the spool, events list reads it,
// events replay and purge ask listen to act, and salvage refuses with a
// message that says so and names the file.
func TestEventsSpoolInUse(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, nil)
	path := filepath.Join(t.TempDir(), "events.spool")
	r := start(t, listenArgs(srv, wsID, h.URL, "--spool", path)...)
	r.waitConnected(t, srv, 1)
	mustContain(t, mustCLI(t, "events", "list", "--spool", path), "no pending, dead or delivered events")
	mustContain(t, mustCLI(t, "events", "replay", "--dead", "--spool", path), "nothing to replay in "+path)
	mustContain(t, mustCLI(t, "events", "purge", "--dead", "--spool", path), "purged 0 dead events from "+path)
	_, err := runCLI(t, "events", "salvage", "--spool", path)
	if err == nil || !strings.Contains(err.Error(), "in use by") || !strings.Contains(err.Error(), path) {
		t.Errorf("events salvage while listen runs = %v, want the in-use message naming the file", err)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	mustContain(t, mustCLI(t, "events", "list", "--spool", path), "no pending, dead or delivered events")
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
	if _, err := runCLI(t, "events", "list", "--websocket-id", "-5"); err == nil || err.Error() != "--websocket-id -5: want the positive id listen runs with" {
		t.Fatalf("events list --websocket-id -5 = %v, want it refused", err)
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
		// Both would select nothing without a word (found by fuzzing).
		{in: "0s", bad: true},
		{in: "2026-11-27T11:00:00Z", bad: true},
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
	// Long enough for the second listen to start and deliver within it
	// of the replay on a loaded machine (300ms was not, now and then).
	const maxAge = 2 * time.Second
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

// cliErr runs one short command to its end and returns what it printed on
// stdout and on stderr.
func cliErr(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	r := start(t, args...)
	err = r.wait(t, 20*time.Second)
	return r.stdout.String(), r.stderr.String(), err
}

// spoolBatch opens the spool at path (creating it) as listen does, lets fn
// queue appends and outcomes, and writes them all as one batch, the
// file's last: the committer runs only once fn has returned. It returns
// the batch's offset.
func spoolBatch(t *testing.T, path string, fn func(d *spool.Disk)) int64 {
	t.Helper()
	d, err := spool.OpenDisk(spool.DiskConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	fn(d)
	d.Close()
	stopped, stop := context.WithCancel(context.Background())
	stop() // Run writes what is queued in one batch and returns
	if err := d.Run(stopped); err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// appendEvent queues a call event with delivery id id and its own key.
func appendEvent(t *testing.T, d *spool.Disk, id string) {
	t.Helper()
	ev := spool.Event{ID: id, Key: "call:" + id, Type: "call", Body: []byte(`{"call_id":"` + id + `"}`), Received: time.Now()}
	if err := d.Append(ev, nil); err != nil {
		t.Fatal(err)
	}
}

// finish takes the next event of d and gives it outcome: "dead",
// "delivered" or "pending" (released, as at shutdown); it returns its id.
func finish(t *testing.T, d *spool.Disk, outcome string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := d.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	switch outcome {
	case "dead":
		d.Dead(ev, "400 Bad Request (not retried)", []spool.Attempt{{At: time.Now(), Status: 400, Error: "400 Bad Request"}})
	case "delivered":
		d.Ack(ev, []spool.Attempt{{At: time.Now(), Status: 204}})
	default:
		d.Release(ev)
	}
	return ev.ID
}

// TestEventsTornTail: a spool whose last batch (three dead letters'
// outcomes) is damaged, or cut short by a crash: every events command
// warns on stderr with the file, the offset and the bytes, and what they
// mean. list, show, and purge and replay with nothing to write leave the
// file byte for byte; a purge that writes cuts the tail off first, saying
// so, as listen's start would.
func TestEventsTornTail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(b []byte, last int64) []byte
	}{
		{"a byte flipped", func(b []byte, last int64) []byte { b[len(b)-1] ^= 0x20; return b }},
		{"cut half-way", func(b []byte, last int64) []byte { return b[:last+(int64(len(b))-last)/2] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.spool")
			ids := []string{"0a1b2c3d-0001", "0a1b2c3d-0002", "0a1b2c3d-0003", "9f8e7d6c-0004"}
			spoolBatch(t, path, func(d *spool.Disk) {
				for _, id := range ids {
					appendEvent(t, d, id)
				}
			})
			spoolBatch(t, path, func(d *spool.Disk) {
				for range 3 {
					finish(t, d, "pending")
				}
				finish(t, d, "delivered")
			})
			last := spoolBatch(t, path, func(d *spool.Disk) {
				for range 3 {
					finish(t, d, "dead")
				}
			})
			mustContain(t, mustCLI(t, "events", "list", "--dead", "--spool", path), ids[2][:8])
			whole, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			damaged := tc.damage(whole, last)
			if err := os.WriteFile(path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			where := []string{"WARN", "spool=" + path, "offset=" + strconv.FormatInt(last, 10), "bytes=" + strconv.Itoa(len(damaged)-int(last))}
			leftOut := append([]string{"an unfinished write at the end of the file is left out: a crash or a failed write (a full disk) came before its sync, " +
				"so none of its events was counted as received; listen cuts it off at its next start"}, where...)

			for _, tc := range []struct {
				args   []string
				stdout string
			}{
				{[]string{"events", "list", "--spool", path}, "pending"},
				{[]string{"events", "show", "--spool", path, ids[0]}, "state        pending"},
				{[]string{"events", "purge", "--dead", "--spool", path}, "purged 0 dead events"},
				{[]string{"events", "replay", "--dead", "--spool", path}, "nothing to replay"},
			} {
				stdout, stderr, err := cliErr(t, tc.args...)
				if err != nil {
					t.Fatalf("%s: %v", strings.Join(tc.args, " "), err)
				}
				mustContain(t, stdout, tc.stdout)
				for _, want := range leftOut {
					mustContain(t, stderr, want)
				}
				if b, err := os.ReadFile(path); err != nil || string(b) != string(damaged) {
					t.Fatalf("%s changed the file (%v)", strings.Join(tc.args, " "), err)
				}
			}
			if dead := listJSON(t, "--dead", "--spool", path); len(dead) != 0 {
				t.Fatalf("dead letters = %+v, want none: their outcomes are in the tail", dead)
			}

			stdout, stderr, err := cliErr(t, "events", "purge", "--delivered", "--spool", path)
			if err != nil {
				t.Fatal(err)
			}
			mustContain(t, stdout, "purged 1 delivered event")
			for _, want := range append([]string{"cut off an unfinished write at the end of the file: a crash or a failed write (a full disk) came before its sync, " +
				"so none of its events was counted as received"}, where...) {
				mustContain(t, stderr, want)
			}
			b, err := os.ReadFile(path)
			if err != nil || string(b[:last]) != string(damaged[:last]) || len(b) == len(damaged) {
				t.Fatalf("after purge the file is %d bytes (%v); want the %d before the tail, then the purge", len(b), err, last)
			}
			stdout, stderr, err = cliErr(t, "events", "list", "--spool", path)
			if err != nil || stderr != "" || strings.Count(stdout, "pending") != 3 {
				t.Fatalf("list after the cut: %v\nstdout:\n%s\nstderr:\n%s\nwant the three pending and no warning", err, stdout, stderr)
			}
		})
	}
}

// TestEventsReplaySelectors: --dead and --since narrow each other (dead
// letters finished since T); alone, each selects all it covers; ids do not
// mix with them; the usage text says so.
func TestEventsReplaySelectors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	spoolBatch(t, path, func(d *spool.Disk) {
		for i := range 5 {
			appendEvent(t, d, fmt.Sprintf("d0d0d0d0-%04d", i))
			finish(t, d, "delivered")
		}
	})
	mustContain(t, mustCLI(t, "events", "replay", "--dead", "--since", "1h", "--spool", path), "nothing to replay in "+path)
	if p := listJSON(t, "--pending", "--spool", path); len(p) != 0 {
		t.Fatalf("replay --dead --since put back %d delivered events; there is no dead letter", len(p))
	}

	spoolBatch(t, path, func(d *spool.Disk) {
		appendEvent(t, d, "dead0000-old")
		finish(t, d, "dead")
	})
	since := time.Now().Format(time.RFC3339Nano)
	spoolBatch(t, path, func(d *spool.Disk) {
		appendEvent(t, d, "dead0000-new")
		finish(t, d, "dead")
		appendEvent(t, d, "d0d0d0d0-new")
		finish(t, d, "delivered")
	})
	pending := func() string {
		var s []string
		for _, r := range listJSON(t, "--pending", "--spool", path) {
			s = append(s, r.ID)
		}
		return strings.Join(s, " ")
	}
	mustContain(t, mustCLI(t, "events", "replay", "--dead", "--since", since, "--spool", path), "put back 1 event")
	if p := pending(); p != "dead0000-new" {
		t.Fatalf("pending after replay --dead --since = %q, want the dead letter finished since only", p)
	}
	mustContain(t, mustCLI(t, "events", "replay", "--since", since, "--spool", path), "put back 1 event")
	if p := pending(); p != "dead0000-new d0d0d0d0-new" {
		t.Fatalf("pending after replay --since = %q, want the delivered event finished since too", p)
	}
	for _, args := range [][]string{{"--dead", "dead0000-old"}, {"--since", "1h", "dead0000-old"}} {
		_, err := runCLI(t, append([]string{"events", "replay", "--spool", path}, args...)...)
		if err == nil || !strings.Contains(err.Error(), "give delivery ids or --dead/--since, not both") {
			t.Fatalf("replay %s = %v, want a refusal to mix ids and flags", strings.Join(args, " "), err)
		}
	}
	if p := pending(); p != "dead0000-new d0d0d0d0-new" {
		t.Fatalf("a refused replay moved events: pending = %q", p)
	}
	help := mustCLI(t, "events", "replay", "--help")
	for _, want := range []string{"--dead --since T the dead letters finished since T (both must match)", "Ids and flags do not mix",
		"never replayed", "dead letters only", "events finished since T only"} {
		mustContain(t, strings.Join(strings.Fields(help), " "), want)
	}
}

// TestEventsReplayRefusedAndPending: a frame refused on arrival is never
// replayed, and replay says so rather than "nothing to replay"; naming it,
// or a pending event, says what it is once, by its whole id.
func TestEventsReplayRefusedAndPending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	forged, waiting := "4a992b3d-1111-4222-8333-944445555666", "7c0ffee0-1111-4222-8333-944445555666"
	spoolBatch(t, path, func(d *spool.Disk) {
		d.Reject(spool.Event{ID: forged, Key: "call:1", Type: "call", Body: []byte("a.b.c"), JWT: true}, "signature does not verify", false)
		appendEvent(t, d, waiting)
	})
	mustContain(t, mustCLI(t, "events", "list", "--dead", "--spool", path), forged[:8])
	for _, args := range [][]string{{"--dead"}, {"--since", "1h"}, {"--dead", "--since", "1h"}} {
		out := mustCLI(t, append([]string{"events", "replay", "--spool", path}, args...)...)
		mustContain(t, out, "nothing to replay in "+path+": 1 frame refused on arrival (--verify-secret) is never replayed")
	}
	for _, tc := range []struct{ id, want string }{
		{forged, "event " + forged + " was refused on arrival by --verify-secret (`events show` gives the reason), and a refused frame is never replayed; nothing was replayed"},
		{forged[:8], "event " + forged + " was refused on arrival"},
		{waiting[:8], "event " + waiting + " is still pending: listen delivers it at its next start; nothing was replayed"},
		{waiting, "event " + waiting + " is still pending"},
	} {
		_, err := runCLI(t, "events", "replay", "--spool", path, tc.id)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Count(err.Error(), tc.id[:8]) != 1 {
			t.Errorf("replay %s = %v, want %q, with the id once", tc.id, err, tc.want)
		}
	}
	if p := listJSON(t, "--pending", "--spool", path); len(p) != 1 || p[0].ID != waiting {
		t.Fatalf("pending = %+v, want only %s", p, waiting)
	}
	spoolBatch(t, path, func(d *spool.Disk) {
		finish(t, d, "pending")
		appendEvent(t, d, "dead0000-0400")
		finish(t, d, "dead")
	})
	mustContain(t, mustCLI(t, "events", "replay", "--dead", "--spool", path),
		"put back 1 event as pending in "+path+"; listen delivers it at its next start (same delivery id); 1 frame refused on arrival (--verify-secret) is never replayed")
}

// TestEventsSalvage: a spool damaged in the middle stops listen with
// advice to salvage it; `events salvage` keeps the intact batches, says
// what it skipped and where the file as it was is, and listen then
// delivers every event stored in them.
func TestEventsSalvage(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, nil)
	path := filepath.Join(t.TempDir(), "events.spool")
	spoolBatch(t, path, func(d *spool.Disk) {
		appendEvent(t, d, "salvage-a")
		appendEvent(t, d, "salvage-b")
	})
	spoolBatch(t, path, func(d *spool.Disk) { appendEvent(t, d, "salvage-c") })
	spoolBatch(t, path, func(d *spool.Disk) { appendEvent(t, d, "salvage-d") })
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[strings.Index(string(b), `"salvage-c"`)+3] ^= 0xff
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}

	if _, err := runCLI(t, listenArgs(srv, wsID, h.URL, "--spool", path)...); err == nil || !strings.Contains(err.Error(), "events salvage --spool "+path) {
		t.Fatalf("listen on a damaged spool = %v, want advice to salvage it", err)
	}
	out := mustCLI(t, "events", "salvage", "--spool", path)
	for _, want := range []string{"salvaged " + path + ": kept 2 intact batches", "skipped", "damaged bytes at offset",
		"the file as it was: " + path + ".damaged", "now: 3 pending, 0 dead, 0 delivered", "are lost"} {
		mustContain(t, out, want)
	}
	if kept, err := os.ReadFile(path + ".damaged"); err != nil || string(kept) != string(b) {
		t.Fatalf("the damaged file is not kept as it was: %v", err)
	}
	mustContain(t, mustCLI(t, "events", "salvage", "--spool", path), "reads whole: nothing to salvage (3 pending, 0 dead, 0 delivered)")

	r := start(t, listenArgs(srv, wsID, h.URL, "--spool", path)...)
	got := h.waitRequests(t, 3, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("listen after salvage: %v", err)
	}
	var delivered []string
	for _, req := range got {
		delivered = append(delivered, req.header.Get("X-Dialpad-Tunnel-Delivery-Id"))
	}
	slices.Sort(delivered)
	if strings.Join(delivered, " ") != "salvage-a salvage-b salvage-d" {
		t.Fatalf("delivered %v after salvage, want salvage-a, -b and -d", delivered)
	}
}

// TestEventsOutputEscapesControlCharacters: fields and bodies of events
// come from outside; an escape sequence or a newline in them reaches the
// terminal quoted, never as is (found by a black-box review).
func TestEventsOutputEscapesControlCharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	spoolBatch(t, path, func(d *spool.Disk) {
		ev := spool.Event{ID: "0a1b2c3d-ctrl", Key: "call:1\x1b[31m\nFORGED row", Type: "call", Detail: "x\x1b]0;title\x07",
			Body: []byte("{\"call_id\":1,\"state\":\"\x1b[2J\"}"), Received: time.Now()}
		if err := d.Append(ev, nil); err != nil {
			t.Fatal(err)
		}
	})
	for _, args := range [][]string{{"events", "list", "--spool", path}, {"events", "show", "--spool", path, "0a1b2c3d-ctrl"}} {
		out := mustCLI(t, args...)
		if strings.ContainsAny(out, "\x1b\x07") {
			t.Errorf("%s printed a raw control character:\n%q", args[1], out)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "FORGED") {
				t.Errorf("%s printed a forged line: %q", args[1], out)
			}
		}
	}
	if out := mustCLI(t, "events", "show", "--spool", path, "0a1b2c3d-ctrl"); !strings.Contains(out, "escaped: it holds control characters; --json gives it exactly") {
		t.Errorf("events show does not say the body is escaped:\n%s", out)
	}
}

// TestEventsShowSaysWhyEscaped: events show escapes a body that is not
// plain text and says why, truly: a body whose only oddity is bytes that
// are not UTF-8 was said to hold control characters (found by a
// black-box review).
func TestEventsShowSaysWhyEscaped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	bodies := []struct{ id, body, want string }{
		{"0a1b2c3d-utf8", "{\"bad\":\"\xff\xfe\"}", "escaped: it is not valid UTF-8; --json gives it exactly, as body_base64)"},
		{"0a1b2c3d-ctrl", "{\"bell\":\"\a\"}", "escaped: it holds control characters; --json gives it exactly)"},
		{"0a1b2c3d-both", "{\"bad\":\"\xff\x1b[2J\"}", "escaped: it is not valid UTF-8 and holds control characters; --json gives it exactly, as body_base64)"},
		{"0a1b2c3d-zwsp", "{\"name\":\"a\u200bb\"}", "escaped: it holds unprintable characters (such as U+200B); --json gives it exactly)"},
	}
	spoolBatch(t, path, func(d *spool.Disk) {
		for _, b := range bodies {
			if err := d.Append(spool.Event{ID: b.id, Key: "call:1", Type: "call", Body: []byte(b.body), Received: time.Now()}, nil); err != nil {
				t.Fatal(err)
			}
		}
	})
	for _, b := range bodies {
		out := mustCLI(t, "events", "show", "--spool", path, b.id)
		if !strings.Contains(out, "bytes, "+b.want+"\n"+strconv.Quote(b.body)+"\n") {
			t.Errorf("events show %s: want the body quoted after %q:\n%s", b.id, b.want, out)
		}
	}
}

// TestEventsJSONKeyNotUTF8: a key with bytes that are not UTF-8 (a call id
// that held them) is given exactly by --json, as key_base64, beside the
// key with U+FFFD in their place: two such keys no longer read as one
// (found by a black-box review).
func TestEventsJSONKeyNotUTF8(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	keys := []string{"call:A\xff\xfeB", "call:A\xfe\xffB", "call:plain"}
	spoolBatch(t, path, func(d *spool.Disk) {
		for i, k := range keys {
			if err := d.Append(spool.Event{ID: fmt.Sprintf("0a1b2c3d-%d", i), Key: k, Type: "call", Body: []byte(`{}`), Received: time.Now()}, nil); err != nil {
				t.Fatal(err)
			}
		}
	})
	recs := listJSON(t, "--spool", path)
	if len(recs) != len(keys) {
		t.Fatalf("%d events listed, want %d", len(recs), len(keys))
	}
	for i, r := range recs {
		got := r.Key
		if r.KeyBase64 != "" {
			b, err := base64.StdEncoding.DecodeString(r.KeyBase64)
			if err != nil {
				t.Fatal(err)
			}
			got = string(b)
		}
		if got != keys[i] || (r.KeyBase64 != "") == utf8.ValidString(keys[i]) {
			t.Errorf("event %d: key %q, key_base64 %q; want %q exactly, base64 only when not UTF-8", i, r.Key, r.KeyBase64, keys[i])
		}
	}
}

// TestReplayWhileListenRuns: a dead letter (a 400) is replayed while
// listen runs, once the handler is fixed: the running agent delivers it at
// once, with the same delivery id, on the same connection; no restart, so
// no event is missed meanwhile. Then the history is purged, still running.
func TestReplayWhileListenRuns(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	var fixed atomic.Bool
	h := newHook(t, func(int) int {
		if fixed.Load() {
			return http.StatusOK
		}
		return http.StatusBadRequest
	})
	path := filepath.Join(t.TempDir(), "events.spool")
	r := start(t, listenArgs(srv, wsID, h.URL, "--spool", path)...)
	r.waitConnected(t, srv, 1)
	typ, ev := dialpadtest.NewGenerator(41).Next()
	srv.Publish(typ, ev)
	id := h.waitRequests(t, 1, 10*time.Second)[0].header.Get(forward.DefaultIDHeader)
	r.stdout.waitFor(t, "] FAILED ", 10*time.Second)
	fixed.Store(true)
	mustContain(t, mustCLI(t, "events", "replay", id[:8], "--spool", path), "put back 1 event as pending in "+path+"; the running listen delivers it after")
	again := h.waitRequests(t, 2, 10*time.Second)[1]
	if got := again.header.Get(forward.DefaultIDHeader); got != id || !bytes.Equal(again.body, ev) {
		t.Errorf("replayed delivery: id %s, body %q; want id %s and the event's exact bytes", got, again.body, id)
	}
	if hs := srv.Handshakes(); hs != 1 {
		t.Errorf("%d websocket handshakes, want 1: the replay needed no restart", hs)
	}
	waitUntilListed(t, path, "--delivered", 1, 10*time.Second)
	recs := listJSON(t, "--delivered", "--spool", path)
	if len(recs) != 1 || recs[0].ID != id || recs[0].Replays != 1 {
		t.Fatalf("delivered: %+v, want the replayed event once", recs)
	}
	// The history can go too, while listen runs.
	mustContain(t, mustCLI(t, "events", "purge", "--delivered", "--spool", path), "purged 1 delivered event from "+path)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	// listen's own log says what the commands did to its spool.
	mustContain(t, r.stdout.String(), "events replay: events queued again at an events command's request  spool="+path+"  replayed=1  ids_given=1")
	mustContain(t, r.stdout.String(), "events purge: events deleted for good at an events command's request  spool="+path+"  delivered=1")
	if recs := listJSON(t, "--spool", path); len(recs) != 0 {
		t.Fatalf("events after the purge: %+v, want none", recs)
	}
}

// waitUntilListed waits until `events list` shows n events of the state
// flag, as it reads the spool while listen runs (which records a delivery
// just after the handler's answer, and stores an event within ms).
func waitUntilListed(t *testing.T, path, state string, n int, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); len(listJSON(t, state, "--spool", path)) < n; {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d %s events in %s within %s", n, state, path, within)
		}
		time.Sleep(5 * time.Millisecond) // polls a condition with a deadline
	}
}

// TestEventsSpoolWithSourceFlags: --spool names the file, so a source flag
// typed beside it (which would find another spool) is refused, not
// silently ignored; one set by the environment, as for listen, is not in
// the way (found by a black-box review).
func TestEventsSpoolWithSourceFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	spoolBatch(t, path, func(*spool.Disk) {})
	for _, args := range [][]string{{"--websocket-id", "5"}, {"--subscription", "call:5"}, {"--create", "--events", "call"}} {
		_, err := runCLI(t, append([]string{"events", "list", "--spool", path}, args...)...)
		if err == nil || !strings.Contains(err.Error(), "--spool names the spool file") {
			t.Errorf("events list --spool with %v: %v, want it refused", args, err)
		}
	}
	t.Setenv("DIALPAD_WEBSOCKET_ID", "5")
	mustContain(t, mustCLI(t, "events", "list", "--spool", path), "no pending, dead or delivered events")
}

// TestEventsWaitWhileLocked: a purge or replay that finds the spool locked
// and no listen answering on its control socket (another events command
// holds the lock for one read and write of the file, or a listen is still
// starting: it makes its socket after) says it waits and tries again,
// then acts on the file once the lock is let go. It used to say at once
// that the spool was in use and to stop the agent, of which there was none.
func TestEventsWaitWhileLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	release := holdSpool(t, path) // with no control socket
	r := start(t, "events", "purge", "--dead", "--spool", path)
	r.stderr.waitFor(t, path+" is locked and no listen answers on its control socket: another events command may be using it", 10*time.Second)
	release()
	if err := r.wait(t, 20*time.Second); err != nil {
		t.Fatalf("events purge once the lock was let go: %v\n%s", err, r.stderr.String())
	}
	mustContain(t, r.stdout.String(), "purged 0 dead events from "+path)
}

// TestEventsSaysItWaitsForListen: a replay sent to a running listen that
// takes more than a second to answer (stopped with SIGSTOP, say) says on
// stderr that it waits, and for how long at most, instead of keeping
// silent for up to 30 s (a new user's walk-through).
func TestEventsSaysItWaitsForListen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	defer holdSpool(t, path)()
	ln, err := control.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	served := make(chan struct{})
	go func() {
		defer close(served)
		control.Serve(ln, control.Spool{Replay: func(context.Context, spool.Selection) (spool.Replayed, error) {
			<-release // a listen that does not answer yet
			return spool.Replayed{}, nil
		}})
	}()
	r := start(t, "events", "replay", "--dead", "--spool", path)
	r.stderr.waitFor(t, "note: waiting for the running listen on "+path+" to answer (up to 30s; Ctrl-C stops waiting)", 10*time.Second)
	close(release)
	if err := r.wait(t, 10*time.Second); err != nil {
		t.Fatalf("events replay once listen answered: %v\n%s", err, r.stderr.String())
	}
	ln.Close()
	<-served
}

// holdSpool opens and runs the spool at path as listen does, holding its
// lock, until the returned func stops it (its Run's error fails t).
func holdSpool(t *testing.T, path string) (release func()) {
	t.Helper()
	d, err := spool.OpenDisk(spool.DiskConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx) }()
	return func() {
		d.Close()
		cancel()
		if err := <-ran; err != nil {
			t.Error(err)
		}
	}
}
