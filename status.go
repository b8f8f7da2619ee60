package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/agent"
	"github.com/dialpad-tunnel/dialpad-tunnel/control"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
	"github.com/urfave/cli/v2"
)

// statusReport is what a running listen answers `status` with, through
// its control socket: the status line's figures and a little more. Every
// figure is of the whole listen, all its routes (Routes) together,
// whichever route's socket was asked: the agent counts what it received,
// delivered and failed once for every route.
type statusReport struct {
	Scope       string    `json:"scope"`  // what the figures cover: "listen", every route of it
	Routes      []string  `json:"routes"` // the routes whose spool files the figures cover
	Version     string    `json:"version"`
	PID         int       `json:"pid"`
	Started     time.Time `json:"started"`
	Sources     string    `json:"sources"`
	Connections int       `json:"connections"`
	Unconnected int       `json:"sources_unconnected"` // sources (websocket, subscriptions) with no connection open
	Received    int64     `json:"received"`
	Delivered   int64     `json:"delivered"`
	Failed      int64     `json:"failed"`
	Pending     int       `json:"pending"`
	DeadLetters int64     `json:"dead_letters"`
	Duplicates  int64     `json:"duplicates_dropped"`
	Invalid     int64     `json:"invalid_frames"`
	Filtered    int64     `json:"filtered"`
	Refused     int64     `json:"refused_signatures"`
	Lost        int64     `json:"lost"`
	Reconnects  int64     `json:"reconnects"`
	Gaps        int64     `json:"gaps"`
	GapTime     string    `json:"gap_time"`
	Paused      string    `json:"paused,omitempty"`   // how long reading has waited for room, in any route
	Stopping    bool      `json:"stopping,omitempty"` // told to stop: reading no more, deliveries in flight may finish
}

// statusOf is the report of a, which started at started, whose routes
// store their events in disks (routes[i] in disks[i]); stopping says
// whether listen was told to stop. Like Stats's, its figures are of every
// route: the dead letters are those of every spool file.
func statusOf(a *agent.Agent, disks []*spool.Disk, routes []string, sources string, started time.Time, stopping bool) statusReport {
	st := a.Stats()
	var dead int64
	for _, d := range disks {
		dead += d.DeadLetters()
	}
	r := statusReport{Scope: "listen", Routes: routes, Version: version, PID: os.Getpid(), Started: started.UTC().Truncate(time.Second), Sources: sources, Stopping: stopping,
		Connections: st.Connected, Unconnected: st.Unconnected, Received: st.Received, Delivered: st.Delivered, Failed: st.Failed,
		Pending: st.Pending, DeadLetters: dead, Duplicates: st.Duplicates, Invalid: st.Invalid, Filtered: st.Filtered,
		Refused: st.Rejected, Lost: st.Abandoned + st.Oversized, Reconnects: st.Reconnects, Gaps: st.Gaps,
		GapTime: st.GapTime.Round(time.Millisecond).String()}
	if st.Paused > 0 {
		r.Paused = st.Paused.Round(time.Second).String()
	}
	return r
}

func statusCommand() *cli.Command {
	asJSON := &cli.BoolFlag{Name: "json", Usage: "print JSON instead of text"}
	cmd := eventsSub("status", "say whether a listen runs on the spool, whether it is connected, and its counts; exit 0 only when it runs and is connected", "",
		[]cli.Flag{asJSON}, showStatus, "")
	cmd.UsageText = "dialpad-tunnel status --websocket-id 1234\ndialpad-tunnel status --spool /var/lib/dialpad-tunnel/events.spool --json"
	return cmd
}

// notConnectedMsg ends a status whose listen runs but has no connection
// open for a source, with exit status 1 as when none runs.
const notConnectedMsg = "listen runs, but a source has no connection to Dialpad open: the events Dialpad sends it now are lost"

// showStatus asks the listen holding the spool file at path for its
// status, whose figures cover all its routes (statusReport), whichever
// route's file path is; with none running, it says so, and what the file
// alone holds. Either way it names on stderr the --route spools next to
// path, with their counts (noteRouteSpools).
func showStatus(c *cli.Context, path string) error {
	defer noteRouteSpools(c, path)
	resp, err := askNoting(c, path, control.Request{Op: "status"})
	if errors.Is(err, control.ErrNoAgent) {
		return notRunning(c, path)
	}
	if errors.Is(err, control.ErrOtherUser) {
		// Neither "runs" nor "no listen runs": this user cannot ask. With
		// --json too, as for any error, nothing is printed on stdout.
		return cli.Exit("status: cannot tell whether a listen runs on "+path+": "+withCommand(c, path, err).Error(), 1)
	}
	if err != nil {
		return err
	}
	var r statusReport
	if err := json.Unmarshal(resp.Status, &r); err != nil {
		return fmt.Errorf("status: the running listen's answer: %w", err)
	}
	connected := r.Connections > 0 && r.Unconnected == 0 && !r.Stopping
	if c.Bool("json") {
		// running, connected and spool, as the text's first line says
		// them (connected: every source has a connection open, the
		// condition of exit status 0).
		if err := printJSON(c.App.Writer, struct {
			Running   bool   `json:"running"`
			Connected bool   `json:"connected"`
			Spool     string `json:"spool"`
			statusReport
		}{true, connected, path, r}); err != nil {
			return err
		}
	} else {
		state := "connected"
		switch {
		case r.Stopping:
			state = "STOPPING (reading no more events; deliveries in flight may finish)"
		case r.Connections == 0:
			state = "NOT CONNECTED"
		case r.Unconnected > 0:
			state = fmt.Sprintf("NOT CONNECTED for %d of its sources", r.Unconnected)
		}
		w := c.App.Writer
		fmt.Fprintf(w, "listen %s (pid %d, %s) on %s since %s: %s, %d connection(s)\n", r.Sources, r.PID, r.Version, path, r.Started.Format(time.RFC3339), state, r.Connections)
		if r.Scope == "listen" { // a listen of an earlier version says no scope: its dead letters were the file's
			fmt.Fprintf(w, "  figures of the whole listen, every route's spool together (%s)\n", routesLabel(r.Routes))
		}
		fmt.Fprintf(w, "  received %d  delivered %d  failed %d  pending %d  dead letters %d\n", r.Received, r.Delivered, r.Failed, r.Pending, r.DeadLetters)
		fmt.Fprintf(w, "  reconnects %d  gaps %d (%s)  duplicates dropped %d  invalid frames %d  filtered %d  refused signatures %d  lost %d\n",
			r.Reconnects, r.Gaps, r.GapTime, r.Duplicates, r.Invalid, r.Filtered, r.Refused, r.Lost)
		if r.Paused != "" {
			fmt.Fprintf(w, "  PAUSED: reading has waited %s for room in a queue (a full disk, or --queue-max-mib)\n", r.Paused)
		}
	}
	switch {
	case r.Stopping:
		return cli.Exit("status: listen is stopping: it reads no more events, and exits once the deliveries in flight end (--drain-timeout at most)", 1)
	case !connected:
		return cli.Exit("status: "+notConnectedMsg, 1)
	}
	return nil
}

// routesLabel names the routes a status covers: "route default", or
// "routes default, sms".
func routesLabel(routes []string) string {
	if len(routes) == 1 {
		return "route " + routes[0]
	}
	return "routes " + strings.Join(routes, ", ")
}

// notRunning says that no listen answers on the spool at path, and what
// the file holds for the next one; exit status 1.
func notRunning(c *cli.Context, path string) error {
	counts, err := stateCounts(path, spool.Pending, spool.Dead, spool.Delivered)
	if c.Bool("json") {
		out := map[string]any{"running": false, "connected": false, "spool": path, "scope": "spool"} // the figures are path's only
		if err == nil {
			out["pending"], out["dead_letters"], out["delivered_kept"] = counts[spool.Pending], counts[spool.Dead], counts[spool.Delivered]
		}
		if perr := printJSON(c.App.Writer, out); perr != nil {
			return perr
		}
	} else if err == nil {
		fmt.Fprintf(c.App.Writer, "no listen runs on %s: it holds %d pending, %d dead letters, %d delivered kept\n",
			path, counts[spool.Pending], counts[spool.Dead], counts[spool.Delivered])
	}
	msg := "no listen runs on " + path
	var denied *spool.AccessError
	switch {
	case errors.As(withCommand(c, path, err), &denied):
		// Not this user's to read: what it holds is not told, only whose
		// it is and how to see it.
		msg += "; its events cannot be counted: " + strings.TrimPrefix(err.Error(), "spool: ")
	case err != nil:
		msg += " (and the file cannot be read: " + strings.TrimPrefix(err.Error(), "spool: ") + ")"
	}
	return cli.Exit("status: "+msg, 1)
}
