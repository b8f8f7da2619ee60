package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/agent"
	"github.com/dialpad-tunnel/dialpad-tunnel/control"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// spoolOptions are the --spool flags of listen.
type spoolOptions struct {
	Path      string // "" means the default file for the sources
	Name      string // with Path "": names the default file instead of the sources (listen --create)
	Off       bool   // --no-spool
	KeepCount int
	KeepAge   time.Duration
	// QueueMaxBytes bounds the bodies waiting in memory with --no-spool
	// (--queue-max-mib); 0: no bound.
	QueueMaxBytes int64
}

// queues are the routes' queues and how to run them.
type queues struct {
	disks     []*spool.Disk
	routes    []string         // each disk's route
	recorded  []*recordedQueue // each disk as the agent's queue
	ran       bool
	discarded bool // discardUnused was called
	// base is the base file of the route files opened ("" with
	// --no-spool): lastRun looks at the files beside it as well.
	base string
}

// basePath is the spool file of the default route: --spool, else the
// default file for the API host and o.Name, or else the sources.
func (o spoolOptions) basePath(apiBase string, sources []string) (string, error) {
	if o.Path != "" {
		return o.Path, nil
	}
	if o.Name != "" {
		sources = []string{o.Name}
	}
	return defaultSpool(apiBase, sources)
}

// defaultSpool is the default spool file for an API host and its sources,
// named after the sources sorted: the order of the --subscription flags
// does not matter. Earlier versions named it after the sources in the
// order given; while neither the sorted file nor a route file of it
// exists, a file (or route file) of another order is kept on.
func defaultSpool(apiBase string, sources []string) (string, error) {
	sorted := slices.Sorted(slices.Values(sources))
	path, err := stateFile("", "spool/"+spoolName(apiBase, sorted)+spoolExt)
	if err != nil || len(sources) < 2 || len(sources) > 5 || spoolExists(path) {
		return path, err
	}
	for _, order := range permutations(sorted) {
		old := filepath.Join(filepath.Dir(path), spoolName(apiBase, order)+spoolExt)
		if spoolExists(old) {
			return old, nil
		}
	}
	return path, nil
}

// spoolExists reports whether base, or a route file of it
// (base.<route>.spool), exists.
func spoolExists(base string) bool {
	if _, err := os.Stat(base); err == nil {
		return true
	}
	// Names are made of [A-Za-z0-9._-] only: nothing to escape in the pattern.
	routes, _ := filepath.Glob(strings.TrimSuffix(base, spoolExt) + ".*" + spoolExt)
	return len(routes) > 0
}

// permutations lists every order of s.
func permutations(s []string) [][]string {
	if len(s) <= 1 {
		return [][]string{slices.Clone(s)}
	}
	var out [][]string
	for i := range s {
		rest := slices.Concat(s[:i], s[i+1:])
		for _, p := range permutations(rest) {
			out = append(out, append([]string{s[i]}, p...))
		}
	}
	return out
}

// routeSpoolPath is the spool file of route next to base: base itself for
// the default route (--forward-to), else base with ".<route>" before its
// extension, with or without a default route.
func routeSpoolPath(base, route string) string {
	if route == "default" {
		return base
	}
	ext := filepath.Ext(base)
	return strings.TrimSuffix(base, ext) + "." + route + ext
}

// open opens the spool file of one route (or an in-memory queue with
// --no-spool), at routeSpoolPath of the base file, to record beside it
// that its events are for the handler at handlerURL once the run is under
// way (recordedQueue).
func (qs *queues) open(o spoolOptions, apiBase string, sources []string, route, handlerURL string, log *slog.Logger) (agent.Queue, error) {
	if o.Off {
		if route == "default" {
			log.Warn("--no-spool: events live in memory only; a crash or restart loses those not yet delivered")
		}
		// Its warnings name the route: a full one pauses reading for all.
		return spool.NewMemory(spool.MemoryConfig{MaxBytes: o.QueueMaxBytes, Logger: log.With("route", route)}), nil
	}
	base, err := o.basePath(apiBase, sources)
	if err != nil {
		return nil, err
	}
	qs.base = base
	path := routeSpoolPath(base, route)
	if old := strings.TrimSuffix(path, spoolExt) + ".db"; o.Path == "" {
		if _, err := os.Stat(old); err == nil {
			log.Warn("an older spool file is here, in a format this version does not read; its events are not delivered (`events` of the version that wrote it can list them)", "file", old)
		}
	}
	keep := o.KeepCount
	if keep == 0 {
		keep = -1 // DiskConfig: negative keeps none
	}
	d, err := spool.OpenDisk(spool.DiskConfig{Path: path, KeepCount: keep, KeepAge: o.KeepAge, Logger: log})
	if err != nil {
		return nil, listenAccess(err)
	}
	qs.disks = append(qs.disks, d) // closed by run or closeUnrun from here on
	qs.routes = append(qs.routes, route)
	if n := d.Len(); n > 0 {
		log.Info("spool holds undelivered events from an earlier run; delivering them first", "count", n, "spool", path)
	}
	q := &recordedQueue{Queue: d, path: path, h: handlerOf(handlerURL), log: log}
	qs.recorded = append(qs.recorded, q)
	return q, nil
}

// recordOnConnect writes every spool file's handler record once the first
// connection is open (recordedQueue): the run is under way. It starts one
// goroutine, which owns nothing and ends when connected is closed or stop
// is called; stop waits for it, so that no record is written once the
// files may be closed (run calls it before). connected nil: never.
func (qs *queues) recordOnConnect(connected <-chan struct{}) (stop func()) {
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		select {
		case <-connected:
			for _, q := range qs.recorded {
				q.record()
			}
		case <-done:
		}
	}()
	return func() {
		close(done)
		<-ended
	}
}

// lastRun is when the previous run on these spool files was last known
// to listen (the latest of their LastRun); zero when unknown (new files,
// or --no-spool). The files of the same listen that this run does not
// open (a removed route's, base with routes only) count too, by their
// modification time, unless a listen holds them: a run whose routes all
// start files of their own (every handler moved) logs the time since the
// previous run as a gap all the same.
func (qs *queues) lastRun() time.Time {
	var last time.Time
	opened := map[string]bool{}
	for _, d := range qs.disks {
		opened[filepath.Clean(d.Path())] = true
		if t := d.LastRun(); t.After(last) {
			last = t
		}
	}
	if qs.base == "" {
		return last
	}
	files, _ := routeFiles(qs.base)
	files = append(files, routeFile{Path: qs.base})
	for _, f := range files {
		if opened[filepath.Clean(f.Path)] || spool.InUse(f.Path) {
			continue
		}
		if fi, err := os.Stat(f.Path); err == nil && fi.ModTime().After(last) {
			last = fi.ModTime()
		}
	}
	return last
}

// serveControl opens each spool file's control socket, through which
// `events replay` and `purge` ask this run to act, and `status` asks for
// status(the file) (control.Serve, one
// goroutine per socket). A socket that cannot be made (a path too long for one, say)
// is logged: replay then needs listen stopped. stop closes them and waits
// for their goroutines.
func (qs *queues) serveControl(log *slog.Logger, status func(*spool.Disk) any) (stop func()) {
	var wg sync.WaitGroup
	var lns []*control.Listener
	for _, d := range qs.disks {
		ln, err := control.Listen(d.Path())
		if err != nil {
			log.Warn("events replay will need listen stopped: its control socket could not be made", "spool", d.Path(), "error", err)
			continue
		}
		lns = append(lns, ln)
		wg.Add(1)
		go func() {
			defer wg.Done()
			admin := logAdmin(d, log)
			admin.Status = func() any { return status(d) }
			control.Serve(ln, admin)
		}()
	}
	return func() {
		for _, ln := range lns {
			ln.Close() // removes the socket file too
		}
		wg.Wait()
	}
}

// logLeft says, once run has returned, how many events each spool file
// holds for the next start: those stored and not delivered. Events the
// agent accepted but a failed spool could not store are not among them
// (the stopped line counts them as unstored).
func (qs *queues) logLeft(log *slog.Logger) {
	for i, d := range qs.disks {
		if !d.AtPath() {
			continue // not for the next start: run's error says so
		}
		if n := d.Stored(); n > 0 {
			log.Info("events left in the spool for the next start", "route", qs.routes[i], "count", n, "spool", d.Path())
		}
	}
}

// describe names the spool files for the start-up line.
func (qs *queues) describe() string {
	if len(qs.disks) == 0 {
		return "memory (--no-spool)"
	}
	paths := make([]string, len(qs.disks))
	for i, d := range qs.disks {
		paths[i] = d.Path()
	}
	return strings.Join(paths, ", ")
}

// run runs the agent with the spools' committers beside it: they start
// first and stop only after the agent (and so every Append, Ack and Dead)
// has returned, flushing the last writes. A spool write that fails for
// want of space is tried again until it succeeds, or until the agent
// begins to stop (it calls each queue's StopWaiting); a failed write then,
// or any other, stops the agent. It starts one goroutine per spool file,
// ended before it returns.
func (qs *queues) run(ctx context.Context, runAgent func(context.Context) error, connected <-chan struct{}) error {
	qs.ran = true
	agentCtx, stopAgent := context.WithCancel(ctx)
	defer stopAgent()
	spoolCtx, stopSpools := context.WithCancel(context.WithoutCancel(ctx))
	errs := make(chan error, len(qs.disks))
	for _, d := range qs.disks {
		go func() {
			err := d.Run(spoolCtx)
			if err != nil {
				stopAgent()
			}
			errs <- err
		}()
	}
	stopRecord := qs.recordOnConnect(connected)
	err := runAgent(agentCtx)
	stopRecord() // before the files and their locks go, and before discardUnused
	if err != nil {
		qs.discardUnused()
	}
	stopSpools()
	for range qs.disks {
		if serr := <-errs; serr != nil {
			err = errors.Join(err, serr) // each spool's, and the agent's: none hides another
		}
	}
	if qs.discarded {
		qs.removeDiscardedRecords()
	}
	return err
}

// removeDiscardedRecords removes the handler record of each spool file
// that discardUnused had removed: a run refused at start leaves nothing.
func (qs *queues) removeDiscardedRecords() {
	for _, d := range qs.disks {
		if _, err := os.Stat(d.Path()); errors.Is(err, fs.ErrNotExist) {
			os.Remove(handlerRecordPath(d.Path()))
		}
	}
}

// closeUnrun closes the spool files when run was never reached (an error
// while setting up).
func (qs *queues) closeUnrun() {
	if !qs.ran && len(qs.disks) > 0 {
		qs.discardUnused()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		qs.run(ctx, func(context.Context) error { return nil }, nil)
	}
}

// discardUnused has each spool file this run made removed as it closes if
// nothing was stored in it: a listen that failed (refused at start by a
// wrong key or id, say) leaves no empty file behind, which would make a
// bare `events list` ask which spool to use, nor its handler record
// (removeDiscardedRecords, once run has closed the files).
func (qs *queues) discardUnused() {
	qs.discarded = true
	for _, d := range qs.disks {
		d.DiscardIfUnused()
	}
}

// spoolExt ends the name of every spool file in the default folder.
const spoolExt = ".spool"

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// spoolName is the default spool file name for an API host and its
// sources, e.g. "dialpad.com-websocket-1000": one file per listen setup.
func spoolName(apiBase string, sources []string) string {
	host := apiBase
	if u, err := url.Parse(apiBase); err == nil && u.Host != "" {
		host = u.Host
	}
	name := host + "-" + strings.Join(sources, "+")
	return strings.Trim(unsafeName.ReplaceAllString(name, "-"), "-")
}

// createSpoolName is the name that replaces the sources in the default
// spool file of `listen --create --events types`, e.g. "create-call+sms".
// It depends on the types only, never on the websocket a run happens to
// create, so the next run with the same --events (and API host) opens the
// file and delivers what this one left.
func createSpoolName(types []dialpad.SubscriptionType) string {
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = string(t)
	}
	slices.Sort(names)
	return "create-" + strings.Join(slices.Compact(names), "+")
}

// maxAttempts maps the flag (0: until --max-age) to forward's setting.
func maxAttempts(n int) int {
	if n <= 0 {
		return forward.Unlimited
	}
	return n
}

// routeFile is a route's spool file next to a base spool file.
type routeFile struct {
	Route string // the route's name: call, sms-2, …
	Path  string
}

// routeFiles lists the route spool files next to base, by route name: the
// files routeSpoolPath(base, route) names for a route listen can make
// (call, sms-2, …), whether or not a route uses them now. A folder that
// does not exist holds none.
func routeFiles(base string) ([]routeFile, error) {
	dir := filepath.Dir(base)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ext := filepath.Ext(base)
	prefix := strings.TrimSuffix(filepath.Base(base), ext) + "."
	var out []routeFile
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || len(name) <= len(prefix)+len(ext) || !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, ext) {
			continue
		}
		if route := name[len(prefix) : len(name)-len(ext)]; validRouteName(route) {
			out = append(out, routeFile{Route: route, Path: filepath.Join(dir, name)})
		}
	}
	return out, nil
}

// validRouteName reports whether name is one routesFrom gives a --route:
// an event type, then "-N" (N ≥ 2) for the N-th route of that type.
func validRouteName(name string) bool {
	typ, n, numbered := strings.Cut(name, "-")
	if numbered {
		i, err := strconv.Atoi(n)
		if err != nil || i < 2 || strconv.Itoa(i) != n {
			return false
		}
	}
	return slices.Contains(dialpad.SubscriptionTypes(), dialpad.SubscriptionType(typ))
}

// routeFlag is how to give listen the route named name again; recorded:
// its file has a handler record, which chooses it by URL, not position.
func routeFlag(name string, recorded bool) string {
	if name == "default" {
		return "--forward-to URL"
	}
	typ, n, numbered := strings.Cut(name, "-")
	if numbered && !recorded {
		return fmt.Sprintf("--route %s=URL given %s times (route %s is the last)", typ, n, name)
	}
	return "--route " + typ + "=URL"
}

// stateCounts counts the records of a spool file in each of states,
// reading it only (it works while an agent holds the file).
func stateCounts(path string, states ...spool.State) (map[spool.State]int, error) {
	recs, _, err := spool.Records(path, states...)
	if err != nil {
		return nil, err
	}
	n := map[spool.State]int{}
	for _, r := range recs {
		n[r.State]++
	}
	return n, nil
}

// warnUnusedRouteSpools warns of each route spool file next to base that
// no route of this run uses and that still holds pending or dead events:
// nothing delivers them until listen runs with that --route again. base
// itself is --forward-to's file: a run without --forward-to (routes only)
// does not open it, so its events are warned of too. It only reads those
// files; one it cannot read gets a warning with the error.
// With --no-spool (routes nil, noSpool) every one of those files is
// unused, base included, and the warning says to start without it.
func warnUnusedRouteSpools(base string, routes []string, noSpool bool, log *slog.Logger) {
	files, err := routeFiles(base)
	if err != nil {
		log.Warn("could not look for the spools of other routes next to the spool", "spool", base, "error", err)
		return
	}
	if _, err := os.Stat(base); err == nil && !slices.Contains(routes, "default") {
		files = append([]routeFile{{Route: "default", Path: base}}, files...)
	}
	for _, f := range files {
		if slices.Contains(routes, f.Route) || spool.InUse(f.Path) {
			continue // another listen delivers those
		}
		n, err := stateCounts(f.Path, spool.Pending, spool.Dead)
		if err != nil {
			log.Warn("the spool of a route this run does not have cannot be read; events in it are not delivered", "file", f.Path, "route", f.Route, "error", err)
			continue
		}
		if n[spool.Pending]+n[spool.Dead] == 0 {
			continue
		}
		h, recorded := readHandler(f.Path)
		flag := routeFlag(f.Route, recorded)
		how := "the spool of a route this run does not have holds events this run does not deliver: start listen with " + flag + " again"
		if noSpool {
			how = "a spool of an earlier run holds events this --no-spool run does not deliver: start listen without --no-spool, with " + flag + ","
		}
		how += " to deliver the pending ones"
		args := []any{"file", f.Path, "route", f.Route}
		if recorded {
			// Its URL, not its position, chooses the file.
			how += ", URL that of its handler (handler=, shown without user or query)"
			args = append(args, "handler", h.URL)
		}
		log.Warn(how+" (`dialpad-tunnel events list --spool FILE` shows them, `events replay --dead --spool FILE` queues dead letters again)",
			append(args, "pending", n[spool.Pending], "dead", n[spool.Dead])...)
	}
}

// logAdmin is what the control socket serves for d: its live replay and
// purge, each logged once carried out, so that a server's journal shows
// who changed its spool when (it showed nothing). One that found nothing
// changed nothing: its line is a debug line.
func logAdmin(d *spool.Disk, log *slog.Logger) control.Spool {
	return control.Spool{
		Replay: func(ctx context.Context, sel spool.Selection) (spool.Replayed, error) {
			res, err := d.ReplayLive(ctx, sel)
			if err == nil {
				args := []any{"spool", d.Path(), "replayed", res.N}
				if len(sel.IDs) > 0 {
					args = append(args, "ids_given", len(sel.IDs))
				}
				if sel.Dead {
					args = append(args, "dead_only", true)
				}
				if !sel.Since.IsZero() {
					args = append(args, "since", sel.Since.Format(time.RFC3339))
				}
				log.Log(ctx, adminLevel(res.N), "events replay: events queued again at an events command's request", args...)
			}
			return res, err
		},
		Purge: func(ctx context.Context, states ...spool.State) ([]int, error) {
			n, err := d.PurgeLive(ctx, states...)
			if err == nil {
				args, total := []any{"spool", d.Path()}, 0
				for i, st := range states {
					args = append(args, string(st), n[i])
					total += n[i]
				}
				log.Log(ctx, adminLevel(total), "events purge: events deleted for good at an events command's request", args...)
			}
			return n, err
		},
	}
}

// adminLevel is the level of the line of a replay or purge that moved n
// events: info, or debug when it moved none (a journal line saying
// replayed=0 read as a change to the spool).
func adminLevel(n int) slog.Level {
	if n == 0 {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
