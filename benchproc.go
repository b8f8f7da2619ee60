package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// benchAgent runs `listen` as a child process of this binary, so that
// bench measures the agent's own memory (peak RSS), apart from the fake
// Dialpad and the handler it runs in-process.
type benchAgent struct {
	command  string       // the subcommand run: "listen" if empty
	args     []string     // extra flags
	received atomic.Int64 // "event arrived" lines seen (with --log-level info)
	peakKiB  atomic.Int64 // the largest peak RSS (VmHWM) seen, up to the stop signal
	anonKiB  atomic.Int64 // the largest anonymous (heap, stacks) part seen while running
	fileKiB  atomic.Int64 // the largest file-backed part (the binary's pages) seen
	cpu      atomic.Int64 // user and system CPU time of the last finished run, ns
	pid      atomic.Int64 // the running child's, 0 when none
}

// storeMax sets v to n if n is larger, whoever else stores meanwhile.
func storeMax(v *atomic.Int64, n int64) {
	for old := v.Load(); n > old && !v.CompareAndSwap(old, n); old = v.Load() {
	}
}

// PeakNow samples the running child's memory now and reports its peak
// resident set so far, in bytes (the bench reads it after the first burst).
func (p *benchAgent) PeakNow() int64 {
	if pid := p.pid.Load(); pid > 0 {
		p.sample(int(pid))
	}
	return p.PeakRSS()
}

// sample reads the child's current anonymous and file-backed resident
// memory from /proc and keeps the largest seen.
func (p *benchAgent) sample(pid int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kib int64
		switch {
		case strings.HasPrefix(line, "RssAnon:"):
			fmt.Sscanf(strings.TrimPrefix(line, "RssAnon:"), "%d", &kib)
			storeMax(&p.anonKiB, kib)
		case strings.HasPrefix(line, "VmHWM:"):
			// The peak since exec. (The child's rusage maxrss is no use: it
			// counts the parent's memory at fork time.)
			fmt.Sscanf(strings.TrimPrefix(line, "VmHWM:"), "%d", &kib)
			storeMax(&p.peakKiB, kib)
		case strings.HasPrefix(line, "RssFile:"):
			fmt.Sscanf(strings.TrimPrefix(line, "RssFile:"), "%d", &kib)
			storeMax(&p.fileKiB, kib)
		}
	}
}

// RSSParts reports the largest anonymous and file-backed resident memory
// seen, in bytes.
func (p *benchAgent) RSSParts() (anon, file int64) {
	return p.anonKiB.Load() << 10, p.fileKiB.Load() << 10
}

// CPU reports the user and system CPU time of the last finished run.
func (p *benchAgent) CPU() time.Duration { return time.Duration(p.cpu.Load()) }

// Received reports how many events the running agent logged as received.
func (p *benchAgent) Received() int64 { return p.received.Load() }

// PeakRSS reports the peak resident set seen while the agent ran (until it
// was asked to stop), in bytes.
func (p *benchAgent) PeakRSS() int64 { return p.peakKiB.Load() << 10 }

// listen runs the child until ctx is done, then stops it with SIGTERM (a
// graceful shutdown), sampling its memory every 20ms meanwhile. It matches demo.Listen. It
// starts one goroutine reading the child's output, ended with the child.
func (p *benchAgent) listen(ctx context.Context, apiBase, apiKey string, wsID int64, forwardTo string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "dialpad-tunnel-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p.received.Store(0)
	args := []string{"--api-base", apiBase, "--websocket-id", strconv.FormatInt(wsID, 10), "--forward-to", forwardTo}
	if p.command == "" {
		args = append([]string{"listen"}, append(args, "--log-format", "json")...)
		if !slices.Contains(p.args, "--no-spool") {
			args = append(args, "--spool", filepath.Join(dir, "events.spool"))
		}
	} else {
		args = append([]string{p.command}, args...)
	}
	args = append(args, p.args...)
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "DIALPAD_API_KEY="+apiKey)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	p.pid.Store(int64(cmd.Process.Pid))
	defer p.pid.Store(0)
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if bytes.Contains(sc.Bytes(), []byte(`"msg":"event arrived"`)) {
				p.received.Add(1)
			}
		}
	}()
	exited := make(chan struct{})
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				p.sample(cmd.Process.Pid)
				cmd.Process.Signal(syscall.SIGTERM)
				select { // a graceful stop takes at most --drain-timeout (10s)
				case <-exited:
				case <-time.After(30 * time.Second):
					cmd.Process.Kill()
				}
				return
			case <-exited:
				return
			case <-tick.C:
				p.sample(cmd.Process.Pid)
			}
		}
	}()
	<-read
	err = cmd.Wait()
	close(exited)
	p.cpu.Store(int64(cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()))
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("agent process: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

// readyWait bounds how long a `bench-direct` child may take to make its
// events and say ready (a fraction of a second for 20,000).
const readyWait = 30 * time.Second

// runBenchDirect runs `bench-direct` as a child process of this binary, for
// bench.Config.DirectProcess: it calls start when the child is ready and
// tells it to go, then waits for it to exit. A child not ready within
// readyWait is killed.
func runBenchDirect(ctx context.Context, url string, events, concurrency int, start func()) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, exe, "bench-direct", "--forward-to", url,
		"--events", strconv.Itoa(events), "--concurrency", strconv.Itoa(concurrency))
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	kill := time.AfterFunc(readyWait, func() { cmd.Process.Kill() })
	br := bufio.NewReader(out)
	line, readErr := br.ReadString('\n')
	switch {
	case !kill.Stop():
		readErr = fmt.Errorf("it was not ready within %s", readyWait)
	case readErr != nil:
		readErr = errors.New("it stopped before it was ready")
	case line != "ready\n":
		readErr = fmt.Errorf("it said %q, not ready", strings.TrimSpace(line))
	default:
		start()
		_, readErr = io.WriteString(in, "go\n")
	}
	in.Close()
	io.Copy(io.Discard, br) // to its end, before Wait
	waitErr := cmd.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if readErr == nil {
		readErr = waitErr
	}
	if msg := bytes.TrimSpace(stderr.Bytes()); readErr != nil && len(msg) > 0 {
		return fmt.Errorf("%w: %s", readErr, msg)
	}
	return readErr
}
