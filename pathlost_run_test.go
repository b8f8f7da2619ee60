package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// replacedQueues opens routes' spool files at base and, inside qs.run's
// agent, stores one event in each, moves each file away and puts another
// file at its path, then returns agentErr.
func replacedQueues(t *testing.T, routes []string, agentErr error) (qs *queues, err error) {
	t.Helper()
	base := filepath.Join(t.TempDir(), "ev.spool")
	qs = &queues{}
	log := slog.New(slog.DiscardHandler)
	for _, r := range routes {
		if _, err := qs.open(spoolOptions{Path: base}, "https://dialpad.com", []string{"sms"}, r, "http://127.0.0.1:1/", log); err != nil {
			t.Fatal(err)
		}
	}
	err = qs.run(context.Background(), func(context.Context) error {
		for i, d := range qs.disks {
			got := make(chan struct{})
			if err := d.Append(spool.Event{ID: "id-" + routes[i], Key: "k", Body: []byte(`{"n":1}`)}, func(spool.Event) { close(got) }); err != nil {
				t.Fatal(err)
			}
			select {
			case <-got:
			case <-time.After(10 * time.Second):
				t.Fatal("not committed")
			}
			if err := os.Rename(d.Path(), d.Path()+".moved"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(d.Path(), []byte("someone else's"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return agentErr
	}, nil)
	return qs, err
}

// TestPathLostBesideAgentError: the agent stops with an error of its own
// (a permanent REST error, say) while the spool's path names another
// file: run returns both, so the stop still says the pending event is not
// at the path (run kept the first error only, and dropped it).
func TestPathLostBesideAgentError(t *testing.T) {
	qs, err := replacedQueues(t, []string{"default"}, errors.New("dialpad: get websocket 123: 404 Not Found"))
	var lost *spool.PathLostError
	if !errors.As(err, &lost) || !strings.Contains(err.Error(), "404 Not Found") {
		t.Errorf("qs.run = %v (AtPath=%v): want both the agent's error and the PathLostError", err, qs.disks[0].AtPath())
	}
	if gone, rest := splitPathsLost(err); len(gone) != 1 || rest == nil || !strings.Contains(rest.Error(), "404") {
		t.Errorf("splitPathsLost = %d lost paths, rest %v; want 1 and the agent's error", len(gone), rest)
	}
}

// TestPathLostEveryRoute: two routes' files are both replaced: the stop
// names both (it named only the first).
func TestPathLostEveryRoute(t *testing.T) {
	_, err := replacedQueues(t, []string{"default", "sms"}, nil)
	if err == nil {
		t.Fatal("qs.run = nil")
	}
	if !strings.Contains(err.Error(), ".sms.spool") || !strings.Contains(err.Error(), "ev.spool:") {
		t.Errorf("qs.run = %v: want both routes' files named (each holds a pending event no start will find)", err)
	}
	if gone, rest := splitPathsLost(err); len(gone) != 2 || rest != nil {
		t.Errorf("splitPathsLost = %d lost paths, rest %v; want 2 and nothing else", len(gone), rest)
	}
}
