package main

import (
	"sync"
	"time"
)

// Event ids are remembered for keepFor, the agent's default --max-age: an
// agent that was down or retrying sends its copy up to that late. At most
// maxIDs are kept (about 100 bytes each, some 10 MB), the oldest forgotten
// first, so memory stays bounded whatever the rate; above ~100,000 events a
// day, raise it or keep the ids in your database. An event id is a UUID
// (36 bytes): the handler refuses one longer than maxIDLen, so that the
// number of ids, not a header's length (up to 1 MB), bounds memory.
const (
	keepFor  = 24 * time.Hour
	maxIDs   = 100_000
	maxIDLen = 64
)

// dedupe remembers the event ids processed, in memory: a restart of the
// handler forgets them.
type dedupe struct {
	mu    sync.Mutex
	when  map[string]time.Time // event id → when it was processed
	order []string             // the ids in when order, oldest first
}

func newDedupe() *dedupe { return &dedupe{when: map[string]time.Time{}} }

// do runs process unless id was processed already (dup is then true) and
// remembers id when process succeeds: an event whose processing failed is
// processed again on its retry. An empty id (no header) is never a
// duplicate. process runs under the lock, so two copies arriving at once
// (two agents deliver at the same moment) cannot both run it; it makes
// processing one at a time, which is fine for printing a line. A handler
// with slow processing records the id in its database instead, in the same
// transaction as the work (a unique key on the event id).
func (d *dedupe) do(id string, process func() error) (dup bool, err error) {
	if id == "" {
		return false, process()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	d.forget(now)
	if _, ok := d.when[id]; ok {
		return true, nil
	}
	if err := process(); err != nil {
		return false, err
	}
	d.when[id] = now
	d.order = append(d.order, id)
	return false, nil
}

// forget drops the ids older than keepFor, and the oldest beyond maxIDs-1
// to make room for one more.
func (d *dedupe) forget(now time.Time) {
	for len(d.order) > 0 && (len(d.order) >= maxIDs || now.Sub(d.when[d.order[0]]) > keepFor) {
		delete(d.when, d.order[0])
		d.order = d.order[1:]
	}
}
