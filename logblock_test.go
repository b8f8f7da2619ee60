package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestBlockedLogOutputRealBinary: a listen whose log output is not read
// (`listen | less` left on its first page, a terminal paused with Ctrl-S,
// a stuck log shipper) goes on reading its websocket and delivering every
// event; the log lines that did not fit are dropped, and once the output
// is read again a line says how many. Before, the websocket readers
// stopped at their next log line, deliveries stopped, and Dialpad would
// have dropped the connection with the events in flight.
func TestBlockedLogOutputRealBinary(t *testing.T) {
	bin := buildAgent(t)
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			h := newHook(t, nil)
			srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
			p := startBlockedListen(t, bin, srv, listenArgs(srv, wsID, h.URL, "--log-format", format)...)

			// The test reads no more of the output.
			const n = 1500
			gen := dialpadtest.NewGenerator(11)
			sent := map[[32]byte]bool{}
			for range n {
				ev := gen.SMS()
				sent[digest(ev)] = true
				if srv.Publish("sms", ev).Frames != 1 {
					t.Fatal("event not sent")
				}
			}
			got := h.waitRequests(t, n, 60*time.Second)
			for _, r := range got {
				delete(sent, digest(r.body))
			}
			if len(sent) != 0 {
				t.Fatalf("%d of %d events not delivered with the log output not read", len(sent), n)
			}

			// Read again: the notice comes; then stop, and read to the end.
			lines := p.readFrom()
			var out []string
			deadline := time.After(30 * time.Second)
			for len(out) == 0 || !strings.Contains(out[len(out)-1], "log lines dropped") {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatalf("output ended with no notice of dropped lines:\n%s", strings.Join(out, "\n"))
					}
					out = append(out, l)
				case <-deadline:
					t.Fatalf("no notice of dropped lines within 30s of reading again:\n%s", strings.Join(out, "\n"))
				}
			}
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			for l := range lines {
				out = append(out, l)
			}
			if err := p.wait(t, 30*time.Second); err != nil {
				t.Fatalf("listen after SIGTERM: %v, want exit 0", err)
			}
			// Every event makes two lines, as it arrives and as it is
			// delivered: each one is either in the output or counted as
			// dropped.
			notice, stopped, dropped, eventLines := -1, -1, 0, 0
			for i, l := range out {
				if strings.HasPrefix(l, "dialpad-tunnel: ") { // main's stop notice on stderr
					continue
				}
				msg := l
				if format == "json" {
					var rec struct {
						Msg     string `json:"msg"`
						Level   string `json:"level"`
						Dropped int    `json:"dropped_lines"`
					}
					if err := json.Unmarshal([]byte(l), &rec); err != nil {
						t.Fatalf("line %d not a JSON object: %q", i, l)
					}
					msg = rec.Msg
					if strings.Contains(msg, "log lines dropped") && (rec.Level != "WARN" || rec.Dropped == 0) {
						t.Errorf("notice at level %s with dropped_lines %d, want WARN and its count: %s", rec.Level, rec.Dropped, l)
					}
				} else if _, rest, ok := strings.Cut(l, " "); ok { // the time
					msg = rest
				}
				switch {
				case droppedNotice.MatchString(msg):
					notice = i
					k, _ := strconv.Atoi(droppedNotice.FindStringSubmatch(msg)[1])
					dropped += k
				case strings.HasPrefix(msg, "--> "), strings.HasPrefix(msg, "<-- "),
					msg == "event arrived", msg == "event delivered":
					eventLines++
				case strings.Contains(msg, "stopped"):
					stopped = i
				}
			}
			if notice < 0 {
				t.Fatalf("no notice of dropped log lines in the output read after:\n%s", strings.Join(out, "\n"))
			}
			if stopped < notice {
				t.Errorf("the stopped line (line %d) before the last notice (line %d)", stopped, notice)
			}
			if eventLines+dropped < 2*n {
				t.Errorf("%d lines of events in the output and %d told dropped, want at least %d (2 per event)", eventLines, dropped, 2*n)
			}
			t.Logf("%s: %d event lines written, %d dropped; last notice: %s", format, eventLines, dropped, out[notice])
		})
	}
}

var droppedNotice = regexp.MustCompile(`^(?:WARN +)?(\d+) log lines? dropped: the log output was not read for \S+$`)

// blockedProcess is the agent with its stdout and stderr on one pipe that
// the test reads only when it says so (or closes: startPiped).
type blockedProcess struct {
	cmd    *exec.Cmd
	out    *os.File // the pipe's read end
	lines  *bufio.Reader
	exited chan error // gets Wait's error once, and is closed
}

// startBlockedListen starts bin's listen with args (listenArgs), a spool
// of its own and a log buffer of 4 KiB (1500 events make far more log
// lines than it and the pipe's 64 KiB hold), as startBlocked does, and
// waits until it is connected to srv.
func startBlockedListen(t *testing.T, bin string, srv *dialpadtest.Server, args ...string) *blockedProcess {
	t.Helper()
	p := startBlocked(t, bin, append(args, "--spool", filepath.Join(t.TempDir(), "ev.spool"),
		"--log-buffer-bytes", "4096", "--status-interval", "0")...)
	p.readUntil(t, "starting")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.WaitConnections(ctx, 1); err != nil {
		t.Fatalf("agent did not connect: %v", err)
	}
	return p
}

// startBlocked starts bin with args, its stdout and stderr on one pipe.
// One goroutine reaps the process; t.Cleanup kills it if the test did not.
func startBlocked(t *testing.T, bin string, args ...string) *blockedProcess {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &blockedProcess{cmd: exec.Command(bin, args...), out: r, lines: bufio.NewReader(r), exited: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	go func() {
		p.exited <- p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		for range p.exited {
		}
		r.Close()
	})
	return p
}

// readUntil reads lines until one contains want, for 10 s at most.
func (p *blockedProcess) readUntil(t *testing.T, want string) {
	t.Helper()
	p.out.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		line, err := p.lines.ReadString('\n')
		if strings.Contains(line, want) {
			return
		}
		if err != nil {
			t.Fatalf("no line with %q: %v", want, err)
		}
	}
}

// readFrom reads the rest of the output on a goroutine of its own, which
// sends each line on the channel and closes it when the process closes
// the output; t.Cleanup (closing the read end) ends it otherwise.
func (p *blockedProcess) readFrom() <-chan string {
	p.out.SetReadDeadline(time.Time{})
	lines := make(chan string, 1<<16)
	go func() {
		defer close(lines)
		for {
			line, err := p.lines.ReadString('\n')
			if line != "" {
				lines <- strings.TrimSuffix(line, "\n")
			}
			if err != nil {
				return
			}
		}
	}()
	return lines
}

// state says whether the process still runs, without waiting: for the
// message of a failure.
func (p *blockedProcess) state() string {
	select {
	case err, ok := <-p.exited:
		if ok {
			return fmt.Sprintf("it exited: %v", err)
		}
		return "it exited"
	default:
		return "it still runs"
	}
}

// wait returns the process's exit error once it is gone, and fails the
// test if it still runs after within.
func (p *blockedProcess) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case err := <-p.exited:
		return err
	case <-time.After(within):
		t.Fatalf("agent still running %s after SIGTERM", within)
		return nil
	}
}

// TestStopWithOutputNeverRead: a listen whose stdout and stderr are a pipe
// nobody reads stops on SIGTERM all the same, with exit 0, having
// delivered every event: neither its log lines nor main's stop notice on
// stderr wait for the pipe for long. (The notice was written before the
// stop began, and a full pipe kept SIGTERM from stopping listen at all.)
func TestStopWithOutputNeverRead(t *testing.T) {
	bin := buildAgent(t)
	h := newHook(t, nil)
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	p := startBlockedListen(t, bin, srv, listenArgs(srv, wsID, h.URL)...)
	// Far more output than the pipe's 64 KiB: it fills, and stays full.
	const n = 1500
	gen := dialpadtest.NewGenerator(12)
	for range n {
		if srv.Publish("sms", gen.SMS()).Frames != 1 {
			t.Fatal("event not sent")
		}
	}
	h.waitRequests(t, n, 60*time.Second)
	fillPipe(t, p.cmd.Process.Pid)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t, 30*time.Second); err != nil {
		t.Fatalf("listen after SIGTERM: %v, want exit 0", err)
	}
}

// fillPipe fills the pipe that is process pid's stdout to its last byte,
// through a write end of its own (/proc, Linux): the agent's log writer
// blocks with a part of a write left, which a short line would still fit.
func fillPipe(t *testing.T, pid int) {
	t.Helper()
	fd, err := syscall.Open("/proc/"+strconv.Itoa(pid)+"/fd/1", syscall.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Skipf("no write end of the agent's stdout of the test's own: %v", err)
	}
	defer syscall.Close(fd)
	for _, size := range []int{4096, 1} {
		chunk := make([]byte, size)
		for {
			if _, err := syscall.Write(fd, chunk); err != nil {
				if err != syscall.EAGAIN {
					t.Fatal(err)
				}
				break
			}
		}
	}
}
