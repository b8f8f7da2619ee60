//go:build linux

package agent

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
	"github.com/gorilla/websocket"
)

// TestSpoolStallLosesNoFrame: while the spool waits for disk space (here:
// this process may not grow files), the reader blocks handing frames to it,
// and what the server sent since (frames, pongs, a close) waits unread in
// the socket. That is no reason to give up on the connection. Without a
// rotation, no replacement is opened and the connection is not ended,
// however long the wait (three pong deadlines); with one during the stall
// (a 2 s token), the old connection is not closed under its blocked
// reader. Once the file may grow, every event is delivered once. (Before,
// a replacement was opened after half a pong deadline and the old
// connection closed with a third of the frames still unread.)
func TestSpoolStallLosesNoFrame(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ttl       time.Duration
		stall     time.Duration
		closeWait time.Duration
	}{
		{"pong deadlines", time.Hour, 3 * testConfig().PongWait, testConfig().CloseWait},
		{"rotation", 2 * time.Second, 5 * time.Second, testConfig().CloseWait},
	} {
		t.Run(tc.name, func(t *testing.T) { stallSpool(t, tc.ttl, tc.stall, tc.closeWait) })
	}
}

// stalledDisk opens a spool in a temporary directory, runs its committer,
// and keeps this process from growing files from now on, as a full disk
// would, until lift. The spool's log goes to logs.
func stalledDisk(t *testing.T) (disk *spool.Disk, logs *syncBuffer, stopDisk func() error, lift func()) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.spool")
	logs = &syncBuffer{}
	disk, err := spool.OpenDisk(spool.DiskConfig{Path: path, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	stopDisk = runSpool(t, disk)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	var was syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &was); err != nil {
		t.Fatal(err)
	}
	lift = sync.OnceFunc(func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &was); err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(lift)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: uint64(fi.Size()), Max: was.Max}); err != nil {
		t.Fatal(err)
	}
	return disk, logs, stopDisk, lift
}

// agentOnDisk runs an agent with acfg on disk, listening to a fake
// Dialpad (made with cfg) whose websocket carries events of type typ, and
// forwarding to handlerURL; it returns once the agent is connected.
func agentOnDisk(t *testing.T, acfg Config, disk *spool.Disk, cfg dialpadtest.Config, typ, handlerURL string) (*dialpadtest.Server, *running) {
	t.Helper()
	fake := newFake(t, cfg)
	wsID := fake.AddWebsocket("")
	addSub(t, fake, typ, wsID)
	acfg.Queue = disk
	r := startAgent(t, acfg, handlerURL, WebsocketSource(newClient(t, fake, fake.APIKey()), dialpad.ID(wsID)))
	waitConns(t, fake, 1)
	return fake, r
}

// waitStalled waits until the spool has logged that it cannot write.
func waitStalled(t *testing.T, logs *syncBuffer) {
	t.Helper()
	waitUntil(t, testWait, func() bool { return strings.Contains(logs.String(), "spool: cannot write the file") },
		func() string { return "the spool logged no failed write:\n" + logs.String() })
}

func stallSpool(t *testing.T, ttl, stall, closeWait time.Duration) {
	disk, spoolLogs, _, lift := stalledDisk(t)

	var mu sync.Mutex
	got := map[[32]byte]int{}
	posts := 0
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		mu.Lock()
		got[sha256.Sum256(body)]++
		posts++
		mu.Unlock()
	}))
	t.Cleanup(h.Close)
	fake := newFake(t, dialpadtest.Config{TokenTTL: ttl})
	wsID := fake.AddWebsocket("")
	for _, typ := range []string{"call", "sms", "agent_status", "contact", "changelog"} {
		addSub(t, fake, typ, wsID)
	}
	cfg := testConfig() // pings every 100 ms, a pong deadline of 1 s
	cfg.Queue = disk
	cfg.CloseWait = closeWait
	r := startAgent(t, cfg, h.URL, WebsocketSource(newClient(t, fake, fake.APIKey()), dialpad.ID(wsID)))
	waitConns(t, fake, 1)
	const n = 1500 // more than the spool's write queue holds: the reader blocks
	gen := dialpadtest.NewGenerator(77)
	for range n {
		typ, body := gen.Next()
		publishSome(t, fake, typ, body) // on two connections if a rotation comes meanwhile (a loaded machine)
	}
	// The stall itself is the condition under test, not a wait for
	// something to happen.
	time.Sleep(stall)
	lift()
	// A loaded machine (the whole suite with -race) may take a while for
	// the backlog: the failure says where the events were.
	waitUntil(t, 3*testWait, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == n },
		func() string {
			mu.Lock()
			defer mu.Unlock()
			return fmt.Sprintf("%d of %d events delivered; agent %+v\nspool's log:\n%s\nlog:\n%s", len(got), n, r.a.Stats(), spoolLogs, r.logs)
		})
	_ = r.stop(t)
	if hs := fake.Handshakes(); ttl == time.Hour && hs != 1 {
		t.Errorf("%d websocket handshakes, want 1: the stall was taken for a dead connection\nlog:\n%s", hs, r.logs)
	}
	mu.Lock()
	defer mu.Unlock()
	if posts != n {
		t.Errorf("%d POSTs for %d events, want each once", posts, n)
	}
}

// TestSourceFailureDuringStallStops: an agent that stops on its own (a
// source failed for good) while its readers are blocked on a spool waiting
// for disk space does not wait for the space: Run returns the source's
// error, and the spool's committer gives up with its write error.
func TestSourceFailureDuringStallStops(t *testing.T) {
	disk, logs, stopDisk, _ := stalledDisk(t)
	fake := newFake(t, dialpadtest.Config{})
	wsID := fake.AddWebsocket("")
	addSub(t, fake, "sms", wsID)
	client := newClient(t, fake, fake.APIKey())
	failNow := make(chan struct{})
	cfg := testConfig()
	cfg.Queue = disk
	r := startAgent(t, cfg, "http://127.0.0.1:1", WebsocketSource(client, dialpad.ID(wsID)), lateFailure(client, wsID+999, failNow))
	waitConns(t, fake, 1)
	gen := dialpadtest.NewGenerator(78)
	for range 1500 { // more than the spool's write queue holds: the reader blocks
		publish(t, fake, "sms", gen.SMS(), 1)
	}
	waitStalled(t, logs)
	close(failNow)
	var api *dialpad.APIError
	if err := r.wait(t, testWait); !errors.As(err, &api) || api.Status != http.StatusNotFound {
		t.Fatalf("Run = %v, want the 404 of the failed source", err)
	}
	var we *spool.WriteError
	if err := stopDisk(); !errors.As(err, &we) {
		t.Fatalf("the spool's Run = %v, want its WriteError", err)
	}
}

// TestStallAcrossRotationsKeepsKeyOrder: while the spool waits for disk
// space, tokens expire and new connections open beside the old ones,
// whose readers are blocked; events keep coming, on every open connection.
// Once the file may grow, each connection is read only after every older
// one has ended, so each call's events reach the handler in the order
// Dialpad sent them. (Before, the readers raced, and a newer connection's
// events overtook those still unread on an older one.)
func TestStallAcrossRotationsKeepsKeyOrder(t *testing.T) {
	disk, logs, _, lift := stalledDisk(t)
	var mu sync.Mutex
	order := map[string][]string{} // call id → bodies in the order first delivered
	seen := map[string]bool{}
	posts := 0
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		callID, _ := eventIDs(body)
		mu.Lock()
		defer mu.Unlock()
		posts++
		if !seen[string(body)] {
			seen[string(body)] = true
			order[callID] = append(order[callID], string(body))
		}
	}))
	t.Cleanup(h.Close)
	// A fake that waits for the blocked readers as long as the test may
	// take: else, on a loaded machine, it drops a connection it could not
	// write to, and events on it alone are lost before reaching the agent.
	// And a pong deadline longer than reading the backlog after the stall
	// may take, under load, on the connections closed meanwhile; and a
	// close wait longer than a loaded machine may leave a reader without
	// the CPU to read its next frame (a closing connection not read for a
	// close wait is ended: what the fake still holds for it is lost).
	// A 2 s token: the agent rotates half a second (a quarter of it)
	// before the fake closes the old connection, time enough to open the
	// new one on a loaded machine; with a 1 s token (250 ms) and
	// GOMAXPROCS=1 an event once found no connection open.
	cfg := testConfig()
	cfg.PongWait = 10 * time.Second
	cfg.CloseWait = 2 * time.Second
	fake, r := agentOnDisk(t, cfg, disk, dialpadtest.Config{TokenTTL: 2 * time.Second, WriteTimeout: time.Minute}, "call", h.URL)

	gen := dialpadtest.NewGenerator(79)
	want := map[string][]string{}
	publishCall := func(body []byte) {
		if d := fake.Publish("call", body); d.Frames < 1 {
			t.Fatalf("event published on no connection")
		}
		callID, _ := eventIDs(body)
		want[callID] = append(want[callID], string(body))
	}
	var lifecycles [][][]byte
	for range 300 {
		lifecycles = append(lifecycles, gen.CallLifecycle())
	}
	var sent [][]byte
	for step := 0; ; step++ {
		more := false
		for _, lc := range lifecycles {
			if step < len(lc) {
				sent = append(sent, lc[step])
				more = true
			}
		}
		if !more {
			break
		}
	}
	const burst = 1100 // more than the spool's write queue holds: the reader blocks
	for _, body := range sent[:burst] {
		publishCall(body)
	}
	waitStalled(t, logs)
	// The rest, paced across several rotations (a 2 s token) while the
	// disk stays full: the pace is the condition under test.
	for i, body := range sent[burst:] {
		publishCall(body)
		if i%5 == 0 { // about 5 s: several rotations of the 2 s token
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("%d events, %d published during the stall", len(sent), len(sent)-burst)
	if hs := fake.Handshakes(); hs < 3 {
		t.Fatalf("%d websocket handshakes during the stall, want rotations", hs)
	}
	lift()
	waitUntil(t, 6*testWait, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == len(sent) },
		func() string {
			mu.Lock()
			defer mu.Unlock()
			return fmt.Sprintf("%d of %d events delivered (connections dropped by the fake while not read: %d)", len(seen), len(sent), r.a.Stats().DroppedUnread)
		})
	_ = r.stop(t)
	mu.Lock()
	defer mu.Unlock()
	late := 0
	for callID, bodies := range want {
		if !slices.Equal(order[callID], bodies) {
			late++
		}
	}
	if late > 0 {
		t.Errorf("%d of %d calls had their events delivered out of order", late, len(want))
	}
	if posts != len(sent) {
		t.Errorf("%d POSTs for %d events, want each once (the copies on the other connections dropped)", posts, len(sent))
	}
}

// TestDroppedWhileHeldUpWarns: a connection the server drops (no close
// frame) while its reader is held up by a full queue may have lost events
// on it; that is never silent: a warning names the connection, and the
// status counts it.
func TestDroppedWhileHeldUpWarns(t *testing.T) {
	disk, logs, _, lift := stalledDisk(t)
	h := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(h.Close)
	cfg := testConfig()
	// A pong deadline far beyond the test: a reader slowed down by a loaded
	// machine (not blocked) must not get its connection replaced first.
	cfg.PingInterval, cfg.PongWait = time.Second, time.Minute
	fake, r := agentOnDisk(t, cfg, disk, dialpadtest.Config{}, "sms", h.URL)
	gen := dialpadtest.NewGenerator(80)
	for range 1500 { // more than the spool's write queue holds: the reader blocks
		publish(t, fake, "sms", gen.SMS(), 1)
	}
	waitStalled(t, logs)
	// A stall long enough for a server to give up (stallHold) is the
	// condition under test, not a wait for something to happen; with room
	// for a loaded machine's reader to fill the write queue first. Then
	// the server gives up.
	time.Sleep(3 * stallHold)
	fake.DropConnectionsAbruptly()
	lift()
	r.logs.waitFind(t, 1, "WARN", droppedUnreadMsg)
	if st := r.a.Stats(); st.DroppedUnread != 1 {
		t.Errorf("DroppedUnread = %d, want 1", st.DroppedUnread)
	}
}

// TestPacedReaderKeepsConnection: with a full in-memory queue, each frame
// waits a few milliseconds for room (far below a tenth of the pong
// deadline), so the reader reads at the handler's pace, seconds behind the
// server, whose pongs wait unread behind the frames. That time is the
// queue's, not the server's: the connection is kept, and every event is
// delivered once. (A review saw the pong deadline end such a connection,
// as dead, in two runs of three, losing 700-850 of 4,000 events still in
// the server's buffers.)
//
// Only the reader's own time (reading the frames, and whatever a loaded
// machine adds to it) counts against the deadline, and against half of it
// for a replacement. A deadline of 900 ms leaves room for that under -race
// with the CPU busy (300 ms did not: 1 run in 10 lost the connection), and
// a handler's 3 ms per event keeps the pongs further apart than the
// deadline, so the time in the queue must be credited for the test to
// pass.
func TestPacedReaderKeepsConnection(t *testing.T) {
	recv := newReceiver(t, func(delivery) bool { time.Sleep(3 * time.Millisecond); return true })
	cfg := testConfig()
	cfg.PingInterval, cfg.PongWait = 150*time.Millisecond, 900*time.Millisecond
	cfg.Concurrency = 1
	cfg.Queue = spool.NewMemory(spool.MemoryConfig{MaxBytes: 1}) // one event at a time
	fake := newFake(t, dialpadtest.Config{WriteTimeout: time.Minute})
	wsID := fake.AddWebsocket("")
	addSub(t, fake, "sms", wsID)
	r := startAgent(t, cfg, recv.url, WebsocketSource(newClient(t, fake, fake.APIKey()), dialpad.ID(wsID)))
	waitConns(t, fake, 1)

	const n = 2000 // 6 s or more at the handler's pace: more than six pong deadlines
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := range n {
			fake.Publish("sms", fmt.Appendf(nil, `{"id":%d,"message_status":"sent","text":"%04000d"}`, 1000+i, i))
		}
	}()
	<-sent
	// Polled with a count, not a copy of every delivery, so that the
	// test's own polling does not slow the reader it measures.
	waitUntil(t, time.Minute, func() bool { return recv.count() >= n || fake.Handshakes() > 1 },
		func() string { return fmt.Sprintf("%d of %d events delivered", recv.count(), n) })
	if h := fake.Handshakes(); h != 1 {
		t.Fatalf("the agent connected %d times, want once: the server answered every ping\nlog:\n%s", h, grepLines(r.logs.String(), "disconnected", "pong"))
	}
	if got := bodies(recv.deliveries()); len(got) != n {
		t.Errorf("%d distinct events delivered, want %d", len(got), n)
	}
}

// TestEndedAfterStallCounts: a connection that ended without the server's
// close frame within a minute of a stall of its reader counts as dropped
// unread, whether the server dropped it or the agent ended it (it may
// still have held frames for it); one that finished its close, or never
// stalled, does not.
func TestEndedAfterStallCounts(t *testing.T) {
	now := time.Now()
	lost := &websocket.CloseError{Code: websocket.CloseAbnormalClosure}
	clean := &websocket.CloseError{Code: websocket.CloseNormalClosure}
	for _, tc := range []struct {
		name        string
		stalledAgo  time.Duration // 0: never stalled
		forced      bool
		err         error
		wantDropped bool
	}{
		{"dropped by the server after a stall", 10 * time.Second, false, lost, true},
		{"ended by the agent after a stall", 10 * time.Second, true, lost, true},
		{"closed cleanly after a stall", 10 * time.Second, false, clean, false},
		{"ended by the agent, no stall", 0, true, lost, false},
		{"ended long after a stall", 2 * droppedAfterStall, true, lost, false},
	} {
		c := &conn{forced: tc.forced, err: tc.err}
		if tc.stalledAgo > 0 {
			c.stalledFor.Store(int64(stallHold))
			c.stalledUntil.Store(monoNanos(now.Add(-tc.stalledAgo)))
		}
		if got := droppedUnread(c, now); got != tc.wantDropped {
			t.Errorf("%s: droppedUnread = %v, want %v", tc.name, got, tc.wantDropped)
		}
	}
}

// TestResumingAfterStall: after a stall of its reader, a closing
// connection waits for the server's frames about as long as the stall
// lasted (at most maxProbeInterval), and closeWait more.
func TestResumingAfterStall(t *testing.T) {
	now := time.Now()
	const closeWait = 200 * time.Millisecond
	c := &conn{}
	if c.resumingAfterStall(now, closeWait) {
		t.Fatal("a connection that never stalled waits for a resume")
	}
	c.stalledFor.Store(int64(7 * time.Second))
	c.stalledUntil.Store(monoNanos(now))
	for _, tc := range []struct {
		after time.Duration
		want  bool
	}{{time.Second, true}, {7 * time.Second, true}, {7*time.Second + closeWait, false}} {
		if got := c.resumingAfterStall(now.Add(tc.after), closeWait); got != tc.want {
			t.Errorf("%s after a 7s stall: resumingAfterStall = %v, want %v", tc.after, got, tc.want)
		}
	}
	c.stalledFor.Store(int64(time.Hour))
	if c.resumingAfterStall(now.Add(maxProbeInterval+closeWait), closeWait) {
		t.Errorf("after an hour's stall, still waiting %s later", maxProbeInterval+closeWait)
	}
}

// TestNewerPassesLingeringOlder: a newer connection's reader waits for
// the older ones to end before it hands over a frame, but not for one
// kept only for what its server may resume sending after a stall
// (letNewerOn): its own server's buffers would fill meanwhile.
func TestNewerPassesLingeringOlder(t *testing.T) {
	older := &conn{done: make(chan struct{}), passed: make(chan struct{})}
	newer := &conn{older: []*conn{older}}
	waited := make(chan struct{})
	go func() {
		newer.awaitOlder()
		close(waited)
	}()
	select {
	case <-waited:
		t.Fatal("the newer connection did not wait for the older one")
	case <-time.After(50 * time.Millisecond): // it waits: nothing would end the wait now
	}
	older.letNewerOn()
	older.letNewerOn() // twice is harmless
	select {
	case <-waited:
	case <-time.After(testWait):
		t.Fatal("the newer connection still waits for an older one that let it on")
	}
}
