package spool

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// List reads the records in one state from a spool file that no agent has
// open, oldest first.
func List(path string, state State) ([]Record, error) {
	db, err := openDB(path, lockTimeout, true)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var out []Record
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOf(state))
		if b == nil {
			return fmt.Errorf("spool: %s: not a dialpad-tunnel spool (no %s bucket)", path, state)
		}
		return b.ForEach(func(k, v []byte) error {
			r, err := decode(keySeq(k), v)
			if err != nil {
				return fmt.Errorf("spool: %s: %w", path, err)
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// lockTimeout is how long the events commands wait for a running agent.
const lockTimeout = 500 * time.Millisecond

func bucketOf(s State) []byte {
	switch s {
	case Delivered:
		return bucketDelivered
	case Dead:
		return bucketDead
	}
	return bucketPending
}
