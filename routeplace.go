package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// placeRoutes names each --route after the spool file next to base that
// it is to use, so that a file's events reach the handler they were
// stored for, whatever the order of the --route flags. For each type:
//
//  1. a route takes the file whose handler record has its URL;
//  2. a route whose name as given (call, call-2: by position) is a file
//     with no record, written by an earlier version, takes it, as then;
//  3. the only route of a type, matched by neither, takes the only file of
//     that type recorded for another URL (its handler moved): a warning
//     names both URLs and the events it now delivers. With several such
//     files it takes none: which one is meant is not known;
//  4. any other route takes the first name of its type with no file
//     (call, call-2, call-3, …).
//
// Files no route takes are left as they are (warnUnusedRouteSpools). The
// default route (--forward-to) keeps base: it is the only one of its kind,
// and a change of its URL is warned of as in 3. routes is changed in
// place.
func placeRoutes(base string, routes []routeOptions, log *slog.Logger) error {
	files, err := routeFiles(base)
	if err != nil {
		return fmt.Errorf("spool: look for the spools of the routes next to %s: %w", base, err)
	}
	path := map[string]string{} // route name: its file
	for _, f := range files {
		path[f.Route] = f.Path
	}
	taken := map[string]bool{}
	for _, r := range routes {
		if r.Name == "default" {
			if old, ok := readHandler(base); ok && old.URLSHA256 != handlerOf(r.Forward.URL).URLSHA256 {
				warnMoved(log, r.Name, r.Forward.URL, base, old)
			}
		}
	}
	for _, typ := range routeTypes(routes) {
		var rs []*routeOptions
		for i := range routes {
			if routes[i].Name != "default" && routes[i].Types[0] == typ {
				rs = append(rs, &routes[i])
			}
		}
		placeType(typ, rs, path, taken, log)
	}
	return nil
}

// routeTypes lists the types of routes other than the default, each once,
// in the order given.
func routeTypes(routes []routeOptions) []string {
	var out []string
	for _, r := range routes {
		if r.Name != "default" && !slices.Contains(out, r.Types[0]) {
			out = append(out, r.Types[0])
		}
	}
	return out
}

// placeType places the routes rs of one type (placeRoutes): path maps the
// names of the route files that exist to their paths, taken the names
// given to a route so far.
func placeType(typ string, rs []*routeOptions, path map[string]string, taken map[string]bool, log *slog.Logger) {
	given := make([]string, len(rs)) // "" until placed
	names := make([]string, 0, len(path))
	for name := range path {
		if name == typ || strings.HasPrefix(name, typ+"-") {
			names = append(names, name)
		}
	}
	slices.SortFunc(names, func(a, b string) int { return routeNumber(a) - routeNumber(b) })
	records := map[string]handlerRecord{}
	for _, name := range names {
		if h, ok := readHandler(path[name]); ok {
			records[name] = h
		}
	}
	take := func(i int, name string) {
		given[i] = name
		taken[name] = true
	}
	for i, r := range rs { // 1: by recorded URL
		want := handlerOf(r.Forward.URL).URLSHA256
		for _, name := range names {
			if h, ok := records[name]; ok && !taken[name] && h.URLSHA256 == want {
				take(i, name)
				break
			}
		}
	}
	for i, r := range rs { // 2: an earlier version's file, by position
		_, recorded := records[r.Name]
		if given[i] == "" && !taken[r.Name] && path[r.Name] != "" && !recorded {
			take(i, r.Name)
		}
	}
	if len(rs) == 1 && given[0] == "" { // 3: its handler moved
		var moved []string
		for _, name := range names {
			if _, ok := records[name]; ok && !taken[name] && !spool.InUse(path[name]) {
				moved = append(moved, name)
			}
		}
		if len(moved) == 1 {
			take(0, moved[0])
			warnMoved(log, moved[0], rs[0].Forward.URL, path[moved[0]], records[moved[0]])
		}
	}
	for i := range rs { // 4: a name of its own
		for n := 1; given[i] == ""; n++ {
			name := typ
			if n > 1 {
				name = fmt.Sprintf("%s-%d", typ, n)
			}
			if !taken[name] && path[name] == "" {
				take(i, name)
			}
		}
	}
	for i, r := range rs {
		r.Name = given[i]
	}
}

// routeNumber is N of a route named TYPE-N, 1 for TYPE.
func routeNumber(name string) int {
	var n int
	if _, num, ok := strings.Cut(name, "-"); ok {
		fmt.Sscan(num, &n)
		return n
	}
	return 1
}

// warnMoved says that the route named route, of the handler at raw, takes
// the spool file at path, recorded for the handler old: its pending events
// go to the new handler now. With none pending it is said at info level.
func warnMoved(log *slog.Logger, route, raw, path string, old handlerRecord) {
	args := []any{"route", route, "old_url", old.URL, "new_url", displayURL(raw), "spool", path}
	n, err := stateCounts(path, spool.Pending)
	if err != nil {
		log.Warn("the handler URL of this route changed since the last run: the events its spool holds for the old one go to the new one",
			append(args, "pending", "unknown", "error", err)...)
		return
	}
	level := slog.LevelWarn
	if n[spool.Pending] == 0 {
		level = slog.LevelInfo
	}
	log.Log(context.Background(), level, "the handler URL of this route changed since the last run: the events its spool holds for the old one go to the new one",
		append(args, "pending", n[spool.Pending])...)
}
