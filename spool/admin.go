package spool

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The functions of this file work on a spool file that no agent has open
// (the `events` commands). Each takes the file's lock for one transaction
// and fails with an error wrapping ErrLocked while an agent holds it.

// MinPrefix is the shortest delivery id prefix Find and Replay accept.
const MinPrefix = 8

// Sentinels of Find and Replay, wrapped with the file and the id asked for.
var (
	ErrNotFound  = errors.New("no such event")
	ErrAmbiguous = errors.New("ambiguous delivery id prefix")
)

// lockTimeout is how long the events commands wait for a running agent.
const lockTimeout = 500 * time.Millisecond

// List reads the records in one state from a spool file that no agent has
// open, oldest first.
func List(path string, state State) ([]Record, error) {
	var out []Record
	err := view(path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOf(state)).ForEach(func(k, v []byte) error {
			r, err := decode(keySeq(k), v)
			if err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// Find returns the record, in any state, whose delivery id is idOrPrefix
// or starts with it; a prefix must have at least MinPrefix characters and
// match one record only.
func Find(path, idOrPrefix string) (Record, error) {
	var r Record
	err := view(path, func(tx *bolt.Tx) error {
		m, err := find(tx, idOrPrefix)
		if err != nil {
			return err
		}
		r, err = decode(m.seq, tx.Bucket(bucketOf(m.state)).Get(seqKey(m.seq)))
		return err
	})
	return r, err
}

// Selection chooses the records Replay puts back. Its parts add up.
type Selection struct {
	IDs   []string  // delivery ids or unique prefixes (see Find) of dead or delivered records
	Dead  bool      // every dead letter
	Since time.Time // every dead or delivered record finished at or after Since, when not zero
}

// Replay moves the selected dead and delivered records back to the pending
// bucket, oldest first, each with a new seq at the tail (the pending
// bucket's sequence, which a running spool keeps in step with the seqs it
// hands out). A replayed record keeps its delivery id, its key and its
// attempt history; its Replays count grows by one and its outcome (State,
// Reason, Finished) is cleared. The agent delivers it at its next start.
// Naming a pending record is an error; nothing is moved then.
func Replay(path string, sel Selection) (int, error) {
	n := 0
	err := update(path, func(tx *bolt.Tx) error {
		chosen := map[uint64]match{}
		for _, id := range sel.IDs {
			m, err := find(tx, id)
			if err != nil {
				return err
			}
			if m.state == Pending {
				return fmt.Errorf("%s (%.8s) is still pending: listen delivers it at its next start", id, m.id)
			}
			chosen[m.seq] = m
		}
		for _, state := range []State{Dead, Delivered} {
			if state == Delivered && sel.Since.IsZero() {
				continue
			}
			err := tx.Bucket(bucketOf(state)).ForEach(func(k, v []byte) error {
				seq := keySeq(k)
				if state == Dead && sel.Dead {
					chosen[seq] = match{seq: seq, state: state}
					return nil
				}
				if sel.Since.IsZero() {
					return nil
				}
				r, err := decode(seq, v)
				if err != nil {
					return err
				}
				if !r.Finished.Before(sel.Since) {
					chosen[seq] = match{seq: seq, state: state}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		seqs := make([]uint64, 0, len(chosen))
		for seq := range chosen {
			seqs = append(seqs, seq)
		}
		slices.Sort(seqs) // arrival order, so each key's replayed events keep theirs
		pending := tx.Bucket(bucketPending)
		for _, seq := range seqs {
			if err := moveToPending(tx, pending, chosen[seq]); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// moveToPending puts one dead or delivered record back at the pending tail.
func moveToPending(tx *bolt.Tx, pending *bolt.Bucket, m match) error {
	from := tx.Bucket(bucketOf(m.state))
	k := seqKey(m.seq)
	r, err := decode(m.seq, from.Get(k))
	if err != nil {
		return err
	}
	if err := from.Delete(k); err != nil {
		return err
	}
	seq, err := pending.NextSequence()
	if err != nil {
		return err
	}
	r.Seq = seq
	r.State, r.Reason, r.Finished = Pending, "", time.Time{}
	r.Replays++
	r.Replayed = time.Now()
	v, err := r.encode()
	if err != nil {
		return err
	}
	return pending.Put(seqKey(seq), v)
}

// Purge deletes every record in state, which must be Dead or Delivered,
// and reports how many there were.
func Purge(path string, state State) (int, error) {
	if state != Dead && state != Delivered {
		return 0, fmt.Errorf("spool: %s: purge %s: only dead or delivered events can be purged", path, state)
	}
	n := 0
	err := update(path, func(tx *bolt.Tx) error {
		name := bucketOf(state)
		n = tx.Bucket(name).Stats().KeyN
		if err := tx.DeleteBucket(name); err != nil {
			return err
		}
		_, err := tx.CreateBucket(name)
		return err
	})
	return n, err
}

// match is one record found by its id: where it is.
type match struct {
	seq   uint64
	state State
	id    string
}

// find looks idOrPrefix up in every bucket: an exact id wins, else a
// prefix of at least MinPrefix characters that matches one record.
func find(tx *bolt.Tx, idOrPrefix string) (match, error) {
	var found []match
	for _, state := range []State{Pending, Dead, Delivered} {
		err := tx.Bucket(bucketOf(state)).ForEach(func(k, v []byte) error {
			id, err := peekID(keySeq(k), v)
			if err != nil {
				return err
			}
			if strings.HasPrefix(id, idOrPrefix) {
				found = append(found, match{seq: keySeq(k), state: state, id: id})
			}
			return nil
		})
		if err != nil {
			return match{}, err
		}
	}
	for _, m := range found {
		if m.id == idOrPrefix {
			return m, nil
		}
	}
	switch {
	case len(idOrPrefix) < MinPrefix:
		return match{}, fmt.Errorf("delivery id %q is too short: give the whole id or at least %d characters of it", idOrPrefix, MinPrefix)
	case len(found) == 0:
		return match{}, fmt.Errorf("%w: no delivery id is or starts with %q", ErrNotFound, idOrPrefix)
	case len(found) > 1:
		ids := make([]string, len(found))
		for i, m := range found {
			ids[i] = m.id + " (" + string(m.state) + ")"
		}
		return match{}, fmt.Errorf("%w: %q matches %s; give more of it", ErrAmbiguous, idOrPrefix, strings.Join(ids, ", "))
	}
	return found[0], nil
}

// peekID reads only the delivery id of a stored value, without copying
// its body.
func peekID(seq uint64, v []byte) (string, error) {
	if len(v) == 0 || v[0] != recordVersion {
		return "", fmt.Errorf("%w %d: unknown format", errCorrupt, seq)
	}
	n, k := binary.Uvarint(v[1:])
	if k <= 0 || uint64(len(v)-1-k) < n {
		return "", fmt.Errorf("%w %d: bad metadata length", errCorrupt, seq)
	}
	var m struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(v[1+k:1+k+int(n)], &m); err != nil {
		return "", fmt.Errorf("%w %d: %v", errCorrupt, seq, err)
	}
	return m.ID, nil
}

// view runs fn in a read-only transaction on an existing spool file.
func view(path string, fn func(*bolt.Tx) error) error {
	db, err := openExisting(path, true)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error { return checked(tx, fn) }); err != nil {
		return fmt.Errorf("spool: %s: %w", path, err)
	}
	return nil
}

// update runs fn in one read-write transaction on an existing spool file:
// all of fn's changes are written, with one sync, or none.
func update(path string, fn func(*bolt.Tx) error) error {
	db, err := openExisting(path, false)
	if err != nil {
		return err
	}
	if err := db.Update(func(tx *bolt.Tx) error { return checked(tx, fn) }); err != nil {
		db.Close()
		return fmt.Errorf("spool: %s: %w", path, err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("spool: %s: %w", path, err)
	}
	return nil
}

// openExisting opens a spool file that must exist: these commands never
// create one.
func openExisting(path string, readOnly bool) (*bolt.DB, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("spool: %s: no such spool file", path)
	}
	return openDB(path, lockTimeout, readOnly)
}

// checked runs fn once tx has the three buckets of a spool. openDB, opening
// for writing, creates missing buckets, so a bolt file that is not ours is
// only caught in read-only transactions.
func checked(tx *bolt.Tx, fn func(*bolt.Tx) error) error {
	for _, s := range []State{Pending, Dead, Delivered} {
		if tx.Bucket(bucketOf(s)) == nil {
			return fmt.Errorf("not a dialpad-tunnel spool (no %s bucket)", s)
		}
	}
	return fn(tx)
}

func bucketOf(s State) []byte {
	switch s {
	case Delivered:
		return bucketDelivered
	case Dead:
		return bucketDead
	}
	return bucketPending
}
