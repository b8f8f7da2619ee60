package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/dialpad-tunnel/dialpad-tunnel/console"
	"github.com/urfave/cli/v2"
)

var logFlags = []cli.Flag{
	&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text (one human line per event) or json (one JSON object per line)", EnvVars: []string{"DIALPAD_TUNNEL_LOG_FORMAT"}},
	&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: []string{"DIALPAD_TUNNEL_LOG_LEVEL"}},
}

// newLogger builds the logger named by --log-format and --log-level.
func newLogger(c *cli.Context, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, fmt.Errorf("%s %q: want debug, info, warn or error", flagLabel(c, "log-level"), c.String("log-level"))
	}
	switch strings.ToLower(c.String("log-format")) {
	case "text":
		return slog.New(console.NewHandler(w, level)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})), nil
	}
	return nil, fmt.Errorf("%s %q: want text or json", flagLabel(c, "log-format"), c.String("log-format"))
}
