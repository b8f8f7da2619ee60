package soak

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"time"
)

// GapMessage is the msg of the agent's log line for a window without any
// open connection; the line carries from, to (RFC 3339) and why.
const GapMessage = "events sent by Dialpad in this window were missed (no open connection)"

// Window is one gap the agent logged.
type Window struct {
	From, To time.Time
	Why      string
}

// gapLog is the io.Writer the agent logs into. It keeps the gap windows of
// the JSON lines written to it and copies every line to tee, if set. The
// agent may write from several goroutines.
type gapLog struct {
	tee io.Writer

	mu        sync.Mutex
	partial   []byte // an unfinished line
	gaps      []Window
	connected []time.Time // when the agent logged "connected"
}

func newGapLog(tee io.Writer) *gapLog { return &gapLog{tee: tee} }

// Write accepts any chunking of the log stream.
func (g *gapLog) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.tee != nil {
		_, _ = g.tee.Write(p)
	}
	g.partial = append(g.partial, p...)
	for {
		i := bytes.IndexByte(g.partial, '\n')
		if i < 0 {
			break
		}
		g.line(g.partial[:i])
		g.partial = g.partial[i+1:]
	}
	g.partial = append([]byte(nil), g.partial...) // do not pin the caller's buffer
	return len(p), nil
}

// line records a gap or a "connected" line; other lines are ignored.
func (g *gapLog) line(b []byte) {
	if !bytes.Contains(b, []byte(GapMessage)) && !bytes.Contains(b, []byte(`"msg":"connected"`)) {
		return
	}
	var l struct {
		Time     time.Time
		Msg      string
		From, To time.Time
		Why      string
	}
	if json.Unmarshal(b, &l) != nil {
		return
	}
	switch l.Msg {
	case GapMessage:
		g.gaps = append(g.gaps, Window{From: l.From, To: l.To, Why: l.Why})
	case "connected":
		g.connected = append(g.connected, l.Time)
	}
}

// windows returns the gaps logged so far and the times of the "connected"
// lines, oldest first.
func (g *gapLog) windows() ([]Window, []time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Window(nil), g.gaps...), append([]time.Time(nil), g.connected...)
}
