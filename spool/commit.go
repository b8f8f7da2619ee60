package spool

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Run is the spool's only writer: it takes the queued appends, acks and
// dead letters in batches (in the order they were queued), writes each
// batch in one transaction with one sync, then reports the appended events
// to their committed callbacks. It returns once ctx is done and every queued write is on disk,
// closing the file; the caller stops it only after all Append, Ack and Dead
// calls have returned. A failing write is returned as an error: the agent
// must stop rather than acknowledge events it could not store.
func (d *Disk) Run(ctx context.Context) error {
	defer close(d.stopped)
	defer d.db.Close()
	batch := make([]op, 0, d.cfg.MaxBatch)
	pace := time.NewTimer(0)
	defer pace.Stop()
	var last time.Time
	for {
		batch = batch[:0]
		select {
		case o := <-d.ops:
			batch = append(batch, o)
		case <-ctx.Done():
			return d.flush()
		}
		// Under load, let a batch gather for CommitInterval: fewer syncs,
		// and nobody waits for them (delivery does not).
		if wait := d.cfg.CommitInterval - time.Since(last); wait > 0 && len(d.ops) < d.cfg.MaxBatch {
			pace.Reset(wait)
			select {
			case <-pace.C:
			case <-ctx.Done():
			}
		}
		last = time.Now()
		batch = d.fill(batch)
		if err := d.commit(batch); err != nil {
			return err
		}
	}
}

// fill adds whatever else is already queued, up to MaxBatch.
func (d *Disk) fill(batch []op) []op {
	for len(batch) < d.cfg.MaxBatch {
		select {
		case o := <-d.ops:
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

// flush commits what is left in the queue at shutdown.
func (d *Disk) flush() error {
	for {
		batch := d.fill(nil)
		if len(batch) == 0 {
			return nil
		}
		if err := d.commit(batch); err != nil {
			return err
		}
	}
}

// commit writes one batch in one transaction, then publishes its appends.
func (d *Disk) commit(batch []op) error {
	var last uint64
	err := d.db.Update(func(tx *bolt.Tx) error {
		pending := tx.Bucket(bucketPending)
		for i := range batch {
			o := &batch[i]
			var err error
			switch o.kind {
			case opAppend:
				err = d.putPending(pending, o)
				last = o.ev.Seq
			case opAck:
				err = d.finish(tx, o, Delivered, bucketDelivered)
			case opDead:
				err = d.finish(tx, o, Dead, bucketDead)
			case opReject:
				err = d.reject(tx, o)
			}
			if err != nil {
				return err
			}
		}
		if last != 0 && last > pending.Sequence() {
			if err := pending.SetSequence(last); err != nil {
				return err
			}
		}
		return d.prune(tx.Bucket(bucketDelivered))
	})
	if err != nil {
		return fmt.Errorf("spool: %s: write: %w", d.cfg.Path, err)
	}
	if last != 0 {
		d.markDurable(last)
	}
	for i := range batch {
		o := &batch[i]
		if o.kind == opAppend && o.committed != nil {
			o.committed(o.ev)
		}
		batch[i] = op{} // drop the body reference
	}
	return nil
}

func (d *Disk) putPending(b *bolt.Bucket, o *op) error {
	r := Record{Event: o.ev, State: Pending}
	v, err := r.encode()
	if err != nil {
		return err
	}
	return b.Put(seqKey(o.ev.Seq), v)
}

// finish moves a pending record to the delivered or dead bucket with its
// outcome appended. A record already gone (acknowledged twice) is ignored.
func (d *Disk) finish(tx *bolt.Tx, o *op, state State, to []byte) error {
	pending := tx.Bucket(bucketPending)
	k := seqKey(o.ev.Seq)
	v := pending.Get(k)
	if v == nil {
		return nil
	}
	if state == Delivered && d.cfg.KeepCount < 0 {
		return pending.Delete(k)
	}
	nv, err := withOutcome(v, recordOutcome{State: state, Attempts: o.attempts, Reason: o.reason, Finished: o.at})
	if err != nil {
		return err
	}
	if err := pending.Delete(k); err != nil {
		return err
	}
	if state == Delivered {
		d.delivered++
	}
	return tx.Bucket(to).Put(k, nv)
}

// reject stores a refused event directly as a dead letter.
func (d *Disk) reject(tx *bolt.Tx, o *op) error {
	r := Record{Event: o.ev, State: Pending}
	v, err := r.encode()
	if err != nil {
		return err
	}
	nv, err := withOutcome(v, recordOutcome{State: Dead, Reason: o.reason, Finished: o.at})
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketPending).SetSequence(max(tx.Bucket(bucketPending).Sequence(), o.ev.Seq)); err != nil {
		return err
	}
	return tx.Bucket(bucketDead).Put(seqKey(o.ev.Seq), nv)
}

// prune drops the oldest delivered records beyond KeepCount, and (checked
// at most once a second) those older than KeepAge.
func (d *Disk) prune(b *bolt.Bucket) error {
	excess := d.delivered - max(d.cfg.KeepCount, 0)
	checkAge := d.delivered > 0 && time.Since(d.agedAt) >= time.Second
	if excess <= 0 && !checkAge {
		return nil
	}
	if checkAge {
		d.agedAt = time.Now()
	}
	var drop [][]byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(drop) >= excess {
			if !checkAge {
				break
			}
			r, err := decode(keySeq(k), v)
			if err != nil || !r.Finished.Before(time.Now().Add(-d.cfg.KeepAge)) {
				break
			}
		}
		drop = append(drop, k)
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return err
		}
		d.delivered--
	}
	return nil
}
