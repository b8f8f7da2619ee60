package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// noticeLine is a notice for the tests: the message, as the text format's.
func noticeLine(dropped int, stalled time.Duration) []byte {
	return []byte(droppedMessage(dropped, stalled) + "\n")
}

var droppedLine = regexp.MustCompile(`^(\d+) log lines? dropped: the log output was not read for \S+$`)

// readAll reads r to its end on a goroutine of its own; the lines come on
// the channel once r ends.
func readAll(r io.Reader) <-chan []string {
	c := make(chan []string, 1)
	go func() {
		var lines []string
		s := bufio.NewScanner(r)
		for s.Scan() {
			lines = append(lines, s.Text())
		}
		c <- lines
	}()
	return c
}

// TestLogOutputDropsInOrder: while the output is not read, Write returns
// at once; lines beyond the buffer are dropped as one gap, and once the
// output is read again a notice in their place says how many; the lines
// kept, a line written with Sync and those after stay in order.
func TestLogOutputDropsInOrder(t *testing.T) {
	pr, pw := io.Pipe() // a write waits for a read: an output nobody reads
	o := newLogOutput(pw, 100, noticeLine)
	const n = 100
	fmt.Fprintf(o, "line %03d\n", 0)
	waitWriting(t, o) // one gap: nothing is taken from the buffer until the output is read
	for i := 1; i < n; i++ {
		fmt.Fprintf(o, "line %03d\n", i) // 9 bytes: at most 11 wait
	}
	o.mu.Lock()
	dropped := o.dropped
	o.mu.Unlock()
	if want := n - 1 - 100/9; dropped != want {
		t.Fatalf("%d lines of 9 bytes written to an output not read, with one being written and room for 100 bytes: %d dropped, want %d", n, dropped, want)
	}

	lines := readAll(pr)
	fmt.Fprintln(o.Sync(), "sync line") // returns once written, after the gap
	for i := n; i < n+5; i++ {
		fmt.Fprintf(o, "line %03d\n", i)
	}
	if left := o.Close(10 * time.Second); left != 0 {
		t.Fatalf("Close left %d bytes with the output read", left)
	}
	pw.Close()
	got := <-lines

	next, notices, lost := 0, 0, 0
	for i, l := range got {
		if m := droppedLine.FindStringSubmatch(l); m != nil {
			notices++
			lost, _ = strconv.Atoi(m[1])
			next += lost
			if i+1 >= len(got) || got[i+1] != "sync line" {
				t.Errorf("line after the notice: want the sync line, in\n%s", strings.Join(got, "\n"))
			}
			continue
		}
		if l == "sync line" {
			continue
		}
		if want := fmt.Sprintf("line %03d", next); l != want {
			t.Fatalf("line %d: %q, want %q, in\n%s", i, l, want, strings.Join(got, "\n"))
		}
		next++
	}
	if notices != 1 || lost != dropped {
		t.Errorf("%d notices, of %d lines dropped; want 1, of %d, in\n%s", notices, lost, dropped, strings.Join(got, "\n"))
	}
	if next != n+5 {
		t.Errorf("lines written and dropped: %d, want %d", next, n+5)
	}
}

// TestLogOutputNoticeAtClose: lines dropped with nothing logged after them
// are told at the end of the output, as the command ends.
func TestLogOutputNoticeAtClose(t *testing.T) {
	pr, pw := io.Pipe()
	o := newLogOutput(pw, 20, noticeLine)
	fmt.Fprintln(o, "first")
	waitWriting(t, o) // nothing is taken from the buffer until the output is read
	for i := range 10 {
		fmt.Fprintf(o, "line %d\n", i)
	}
	lines := readAll(pr)
	if left := o.Close(10 * time.Second); left != 0 {
		t.Fatalf("Close left %d bytes with the output read", left)
	}
	pw.Close()
	got := <-lines
	if len(got) == 0 || !droppedLine.MatchString(got[len(got)-1]) {
		t.Fatalf("output does not end with the notice:\n%s", strings.Join(got, "\n"))
	}
}

// waitWriting returns once o's goroutine is in a write to its output.
func waitWriting(t *testing.T, o *logOutput) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		o.mu.Lock()
		writing := !o.writing.IsZero()
		o.mu.Unlock()
		if writing {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the goroutine did not start writing within 10s")
		}
		runtime.Gosched()
	}
}

// TestLogOutputCloseBounded: Close returns after its wait when the output
// is never read, and says how much it left; an output closed under it
// (EPIPE) fails the write, and the goroutine ends.
func TestLogOutputCloseBounded(t *testing.T) {
	pr, pw := io.Pipe()
	o := newLogOutput(pw, 1<<10, noticeLine)
	fmt.Fprintln(o, "never read")
	waitWriting(t, o)
	for range 200 { // 1 KiB waits; the rest is dropped
		fmt.Fprintln(o, "0123456789")
	}
	if left := o.Close(time.Millisecond); left < int64(len("never read\n")) {
		t.Errorf("Close with the output not read: %d bytes left, want at least %d", left, len("never read\n"))
	}
	// What the last words at the stop tell of: the lines dropped with no
	// notice since, and since when the output was not read.
	if dropped, since := o.unread(); dropped != 200-(1<<10)/11 || time.Since(since) < 0 || !since.Before(time.Now()) {
		t.Errorf("unread: %d dropped since %v, want %d since the first write began", dropped, since, 200-(1<<10)/11)
	}
	pr.CloseWithError(errors.New("reader gone"))
	<-o.done
}

// TestLogOutputClosedOutput: an output that fails every write (a closed
// pipe) neither stops Write nor a Sync write.
func TestLogOutputClosedOutput(t *testing.T) {
	pr, pw := io.Pipe()
	pr.Close()
	o := newLogOutput(pw, 1<<10, noticeLine)
	for range 1000 {
		fmt.Fprintln(o, "lost")
	}
	if _, err := fmt.Fprintln(o.Sync(), "report"); err != nil {
		t.Errorf("Sync write: %v", err)
	}
	if left := o.Close(10 * time.Second); left != 0 {
		t.Errorf("Close left %d bytes with writes failing at once", left)
	}
}

// writeCalls records each write it gets.
type writeCalls [][]byte

func (w *writeCalls) Write(p []byte) (int, error) {
	*w = append(*w, append([]byte(nil), p...))
	return len(p), nil
}

// TestWriteLinesWhole: lines are written whole, atomicWrite bytes a write
// at most, so that a line written to stderr on the same pipe cannot cut
// one; a longer line goes alone.
func TestWriteLinesWhole(t *testing.T) {
	line := strings.Repeat("x", 999) + "\n"
	long := strings.Repeat("y", 5000) + "\n"
	in := strings.Repeat(line, 10) + long + line + "tail"
	var w writeCalls
	writeLines(&w, []byte(in))
	var all strings.Builder
	for i, p := range w {
		all.Write(p)
		switch {
		case string(p) == long:
		case len(p) > atomicWrite:
			t.Errorf("write %d: %d bytes, want %d at most", i, len(p), atomicWrite)
		case i < len(w)-1 && p[len(p)-1] != '\n':
			t.Errorf("write %d does not end a line", i)
		}
	}
	if all.String() != in {
		t.Errorf("written %q, want %q", all.String(), in)
	}
}
