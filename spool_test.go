package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// agentProcess is the real binary running `listen` as a child process,
// logging JSON at debug level on stdout.
type agentProcess struct {
	cmd    *exec.Cmd
	stdout syncBuffer // the log
	stderr syncBuffer
	exited chan error // cmd.Wait's result, sent once

	mu      sync.Mutex
	stored  map[string]bool // delivery ids logged as "event stored" (after the fsync)
	tail    []string        // last lines of stdout, for failure reports
	changed chan struct{}   // a send after every stored id, dropped when full
}

// buildAgent builds the binary under test into a temporary directory.
func buildAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dialpad-tunnel")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startAgent starts bin with args. One goroutine reads its stdout until
// the process exits (EOF), then reaps it; t.Cleanup kills it if the test
// did not, and waits for both.
func startAgent(t *testing.T, bin string, args ...string) *agentProcess {
	t.Helper()
	return startProcess(t, bin, args...)
}

// startProcess is startAgent for any command line that runs the agent (a
// shell that execs it, say).
func startProcess(t *testing.T, name string, args ...string) *agentProcess {
	t.Helper()
	p := &agentProcess{cmd: exec.Command(name, args...), exited: make(chan error, 1), stored: map[string]bool{}, changed: make(chan struct{}, 1)}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.read(stdout)
		p.exited <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		if err, ok := <-p.exited; ok {
			p.exited <- err
		}
		if t.Failed() {
			p.mu.Lock()
			t.Logf("agent pid %d, last stdout lines:\n%s\nstderr:\n%s", p.cmd.Process.Pid, joinLines(p.tail), p.stderr.String())
			p.mu.Unlock()
		}
	})
	return p
}

func joinLines(lines []string) string {
	out := ""
	for _, l := range lines {
		out += l + "\n"
	}
	return out
}

// read parses the JSON log lines and records every stored id.
func (p *agentProcess) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg string `json:"msg"`
			ID  string `json:"id"`
		}
		_ = json.Unmarshal(sc.Bytes(), &line) // a line that is not JSON only lands in the tail
		p.stdout.Write([]byte(sc.Text() + "\n"))
		p.mu.Lock()
		if len(p.tail) == 40 {
			p.tail = p.tail[1:]
		}
		p.tail = append(p.tail, sc.Text())
		if line.Msg == "event stored" && line.ID != "" {
			p.stored[line.ID] = true
			select {
			case p.changed <- struct{}{}:
			default:
			}
		}
		p.mu.Unlock()
	}
}

// storedIDs is a copy of the ids logged as stored so far.
func (p *agentProcess) storedIDs() map[string]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]bool, len(p.stored))
	for id := range p.stored {
		out[id] = true
	}
	return out
}

// waitStored blocks until at least n events are logged as stored.
func (p *agentProcess) waitStored(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for len(p.storedIDs()) < n {
		select {
		case <-p.changed:
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("agent exited (%v) after storing %d events, want %d", err, len(p.storedIDs()), n)
		case <-deadline:
			t.Fatalf("agent stored %d events within %s, want %d", len(p.storedIDs()), within, n)
		}
	}
}

// signal sends sig and returns the process's exit once it is gone.
func (p *agentProcess) signal(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case err := <-p.exited:
		p.exited <- err
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("agent still running 30s after %v", sig)
		return nil
	}
}

// ledger is a handler that answers slowly and erratically, and counts the
// 2xx answers per delivery id and body.
type ledger struct {
	*httptest.Server
	mu        sync.Mutex
	requests  int
	delivered map[string]int      // delivery id → 2xx answers
	bodies    map[[32]byte]string // body digest → a delivery id that carried it
	changed   chan struct{}
}

func newLedger(t *testing.T) *ledger {
	l := &ledger{delivered: map[string]int{}, bodies: map[[32]byte]string{}, changed: make(chan struct{}, 1)}
	l.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("ledger: read body: %v", err)
			return
		}
		l.mu.Lock()
		l.requests++
		n := l.requests
		l.mu.Unlock()
		// A slow handler (0–3 ms), and every fifth answer a 503: a backlog
		// builds up behind it.
		time.Sleep(time.Duration(n%4) * time.Millisecond)
		if n%5 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		l.mu.Lock()
		id := r.Header.Get("X-Dialpad-Tunnel-Delivery-Id")
		l.delivered[id]++
		l.bodies[digest(body)] = id
		l.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		select {
		case l.changed <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(l.Close)
	return l
}

// missing returns how many of ids have not been delivered yet.
func (l *ledger) missing(ids map[string]bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for id := range ids {
		if l.delivered[id] == 0 {
			n++
		}
	}
	return n
}

// TestSpoolSurvivesSIGKILL kills the real binary with SIGKILL in the middle
// of a burst, with a backlog behind a slow, erratic handler, and starts it
// again on the same spool: every event the agent had logged as stored is
// delivered at least once, and every delivered body is byte-identical to a
// published event.
func TestSpoolSurvivesSIGKILL(t *testing.T) {
	bin := buildAgent(t)
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newLedger(t)
	path := filepath.Join(t.TempDir(), "events.spool")
	args := listenArgs(srv, wsID, h.URL, "--spool", path, "--log-format", "json", "--log-level", "debug",
		"--concurrency", "4", "--retry-wait-min", "10ms", "--retry-wait-max", "100ms")

	first := startAgent(t, bin, args...)
	first.waitConnected(t, srv)

	const burst = 2000
	var (
		pubMu     sync.Mutex
		published = map[[32]byte]bool{}
		sent      int
	)
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() { // owns gen; ends after the burst
		defer close(done)
		gen := dialpadtest.NewGenerator(2026)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := 0; i < burst; i++ {
			if i%10 == 0 {
				<-tick.C // about 10 events per ms: a burst, spread over the kill
			}
			typ, ev := gen.Next()
			pubMu.Lock()
			published[digest(ev)] = true
			pubMu.Unlock()
			if srv.Publish(typ, ev).Frames > 0 {
				pubMu.Lock()
				sent++
				pubMu.Unlock()
			}
		}
	}()

	first.waitStored(t, 300, 30*time.Second)
	killedAt := time.Now()
	err := first.signal(t, syscall.SIGKILL)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("first agent exit = %v, want killed by SIGKILL", err)
	}
	accepted := first.storedIDs()
	backlog := h.missing(accepted)
	pubMu.Lock()
	sentAtKill := sent
	pubMu.Unlock()
	if backlog == 0 {
		t.Fatalf("all %d stored events were already delivered at the kill: no backlog, the test proves nothing", len(accepted))
	}
	<-done

	second := startAgent(t, bin, args...)
	deadline := time.After(60 * time.Second)
	for h.missing(accepted) > 0 {
		select {
		case <-h.changed:
		case err := <-second.exited:
			second.exited <- err
			t.Fatalf("restarted agent exited (%v) with %d accepted events undelivered", err, h.missing(accepted))
		case <-deadline:
			t.Fatalf("%d of %d accepted events not delivered within 60s of the restart: lost", h.missing(accepted), len(accepted))
		}
	}
	if err := second.signal(t, syscall.SIGTERM); err != nil {
		t.Errorf("restarted agent exit after SIGTERM = %v, want 0", err)
	}
	// The window with no agent running is logged as a gap, from about the
	// kill (the first agent's last write to the spool).
	gap, ok := restartGap(second.stdout.String())
	if !ok {
		t.Errorf("the restarted agent logged no gap for the time no agent ran")
	} else if gap.Before(killedAt.Add(-time.Second)) || gap.After(killedAt) {
		t.Errorf("restart gap from %s, want within a second before the kill at %s", gap.Format(time.RFC3339Nano), killedAt.Format(time.RFC3339Nano))
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	redelivered := 0
	for id, n := range h.delivered {
		if n > 1 {
			redelivered += n - 1
		}
		if id == "" {
			t.Errorf("a POST carried no X-Dialpad-Tunnel-Delivery-Id")
		}
	}
	for d, id := range h.bodies {
		if !published[d] {
			t.Errorf("delivery %s: body is not byte-identical to any published event", id)
		}
	}
	t.Logf("burst %d: %d written to the first agent's connection before the kill, %d stored (synced) by then, %d of those undelivered at the kill; "+
		"after the restart all %d delivered; %d distinct events delivered in all, %d redeliveries (at-least-once)",
		burst, sentAtKill, len(accepted), backlog, len(accepted), len(h.delivered), redelivered)
}

// restartGap finds the gap line that covers the time no agent ran in a
// waitRestartGap polls p's output, with a deadline, until it logs the
// window since the previous run, and returns its start; it fails the test
// saying notLogged after 20 s.
func waitRestartGap(t *testing.T, p *agentProcess, notLogged string) time.Time {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if gap, ok := restartGap(p.stdout.String()); ok {
			return gap
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s within 20 s\n%s", notLogged, p.stdout.String())
		}
	}
}

// JSON log, and returns its start.
func restartGap(log string) (time.Time, bool) {
	for _, l := range strings.Split(log, "\n") {
		var line struct {
			Msg  string    `json:"msg"`
			From time.Time `json:"from"`
			Why  string    `json:"why"`
		}
		if json.Unmarshal([]byte(l), &line) == nil && strings.HasPrefix(line.Why, "no agent was running") {
			return line.From, true
		}
	}
	return time.Time{}, false
}

// waitConnected returns once the fake holds a connection, and fails the
// test if the process exits first.
func (p *agentProcess) waitConnected(t *testing.T, srv *dialpadtest.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	connected := make(chan error, 1)
	go func() { connected <- srv.WaitConnections(ctx, 1) }()
	select {
	case err := <-connected:
		if err != nil {
			t.Fatalf("agent did not connect: %v", err)
		}
	case err := <-p.exited:
		p.exited <- err
		cancel()
		<-connected
		t.Fatalf("agent exited before connecting: %v", err)
	}
}
