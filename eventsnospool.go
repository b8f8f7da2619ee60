package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
)

// noSpoolForFlags explains a default spool file that the flags name
// (--websocket-id, --subscription or --create --events, with --env or
// --api-base) but that no listen made, while other spools are in its
// folder: listen ran with other flags (a forgotten --api-base, other
// --events), and the spools there are what to choose from. It said only
// "no such spool file", where the same command without those flags lists
// the spools. A file or route file of the same listen is missingSpool's.
func noSpoolForFlags(c *cli.Context, path, base string) error {
	if c.String("spool") != "" {
		return nil
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	bases, err := spoolBases(filepath.Dir(base))
	if err != nil || len(bases) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "spool: %s: no such spool file: no listen ran with these flags (the same --websocket-id, --subscription or --create --events, and --env or --api-base, as listen); the spools in %s are (choose one with --spool, or with its listen's flags):", base, filepath.Dir(base))
	for _, f := range bases {
		fmt.Fprintf(&b, "\n  %s  (%s)", f, routeFileSummary(f))
	}
	return errors.New(b.String())
}
