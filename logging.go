package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/console"
	"github.com/urfave/cli/v2"
)

func logFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text (one human line per event) or json (one JSON object per line)", EnvVars: []string{"DIALPAD_TUNNEL_LOG_FORMAT"}},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: []string{"DIALPAD_TUNNEL_LOG_LEVEL"}},
		&cli.IntFlag{Name: "log-buffer-bytes", Value: logBufferBytes, Hidden: true, Usage: "bytes of log lines that wait for an output not read before lines are dropped; for tests"},
	}
}

// newLogger builds the logger named by --log-format and --log-level, on a
// logOutput that writes to w: a log line never waits for w to be read.
// The command must Close the logOutput as it ends (closeLog).
func newLogger(c *cli.Context, w io.Writer) (*slog.Logger, *logOutput, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, nil, fmt.Errorf("%s %q: want debug, info, warn or error", flagLabel(c, "log-level"), c.String("log-level"))
	}
	var handler func(io.Writer) slog.Handler
	format := strings.ToLower(c.String("log-format"))
	switch format {
	case "text":
		handler = func(w io.Writer) slog.Handler { return console.NewHandler(w, level) }
	case "json":
		handler = func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}) }
	default:
		return nil, nil, fmt.Errorf("%s %q: want text or json", flagLabel(c, "log-format"), c.String("log-format"))
	}
	size := c.Int("log-buffer-bytes")
	if size < 1 {
		return nil, nil, fmt.Errorf("--log-buffer-bytes %d: want 1 or more", size)
	}
	notice := func(dropped int, stalled time.Duration) []byte {
		var b bytes.Buffer
		r := slog.NewRecord(time.Now(), slog.LevelWarn, droppedMessage(dropped, stalled), 0)
		if format == "json" { // the text line says it all already
			r.AddAttrs(slog.Int("dropped_lines", dropped), slog.String("not_read_for", roundStall(stalled).String()))
		}
		// Handle, not the logger: the notice is written whatever the level.
		_ = handler(&b).Handle(context.Background(), r)
		return b.Bytes()
	}
	out := newLogOutput(w, size, notice)
	return slog.New(handler(out)), out, nil
}

// closeLog writes what still waits in out, waiting logFlushWait at most,
// and says on errOut (unless nil), if it can within a second, when lines
// were left unwritten: the log output itself is not read.
func closeLog(out *logOutput, errOut io.Writer) {
	left := out.Close(logFlushWait)
	if left == 0 || errOut == nil {
		return
	}
	dropped, since := out.unread()
	msg := fmt.Sprintf("dialpad-tunnel: the log output was not read for %s as the command ended: %d bytes of log lines were not written", roundStall(time.Since(since)), left)
	if dropped > 0 {
		msg += fmt.Sprintf(", and %d %s before them were dropped with no notice", dropped, plural(dropped, "line"))
	}
	said := make(chan struct{})
	// This goroutine owns nothing; it ends with its write, or with the
	// process if errOut is not read either.
	go func() {
		fmt.Fprintln(errOut, msg)
		close(said)
	}()
	select {
	case <-said:
	case <-time.After(time.Second):
	}
}
