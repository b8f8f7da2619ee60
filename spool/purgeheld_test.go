package spool

import (
	"slices"
	"testing"
)

// TestPurgeHeldEachPurgeOfABatch: two purges of dead letters in one batch
// (two commands at once) each take the dead letters held in memory that
// were given up on before it: the second those given up on between the
// two, which it used to leave, to be written and listed afterwards. Each
// one taken counts as stored (its committed call) and in its purge's
// count; what follows the last purge stays.
func TestPurgeHeldEachPurgeOfABatch(t *testing.T) {
	var stored []uint64
	committed := func(ev Event) { stored = append(stored, ev.Seq) }
	appendOp := func(seq uint64) op { return op{kind: opAppend, ev: Event{Seq: seq}, committed: committed} }
	deadOp := func(seq uint64) op { return op{kind: opDead, ev: Event{Seq: seq}} }
	first, second := &adminOp{dead: true}, &adminOp{dead: true}
	batch := []op{
		appendOp(1), deadOp(1), appendOp(2),
		{kind: opPurge, admin: first},
		deadOp(2), appendOp(3), deadOp(3),
		{kind: opPurge, admin: second},
		appendOp(4), deadOp(4), // after both purges: kept
	}
	d := &Disk{}
	got := d.purgeHeld(batch)
	var left []string
	for _, o := range got {
		switch o.kind {
		case opPurge:
			left = append(left, "purge")
		case opAppend:
			left = append(left, "append")
		case opDead:
			left = append(left, "dead")
		}
	}
	if want := []string{"purge", "purge", "append", "dead"}; !slices.Equal(left, want) {
		t.Errorf("batch after the purges: %v, want %v", left, want)
	}
	if first.held != 1 || second.held != 2 {
		t.Errorf("held purged: %d and %d, want 1 (event 1) and 2 (events 2 and 3)", first.held, second.held)
	}
	if slices.Sort(stored); !slices.Equal(stored, []uint64{1, 2, 3}) {
		t.Errorf("committed calls for %v, want events 1, 2 and 3", stored)
	}
}
