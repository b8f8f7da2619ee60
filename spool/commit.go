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
	for {
		batch = batch[:0]
		select {
		case o := <-d.ops:
			batch = append(batch, o)
		case <-ctx.Done():
			return d.flush()
		}
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
// outcome. A record already gone (acknowledged twice) is ignored.
func (d *Disk) finish(tx *bolt.Tx, o *op, state State, to []byte) error {
	pending := tx.Bucket(bucketPending)
	k := seqKey(o.ev.Seq)
	v := pending.Get(k)
	if v == nil {
		return nil
	}
	if err := pending.Delete(k); err != nil {
		return err
	}
	if state == Delivered && d.cfg.KeepCount < 0 {
		return nil
	}
	r, err := decode(o.ev.Seq, v)
	if err != nil {
		return err
	}
	r.State, r.Finished, r.Reason = state, o.at, o.reason
	r.Attempts = append(r.Attempts, o.attempts...)
	nv, err := r.encode()
	if err != nil {
		return err
	}
	if state == Delivered {
		d.delivered++
	}
	return tx.Bucket(to).Put(k, nv)
}

// prune drops the oldest delivered records beyond KeepCount or KeepAge.
func (d *Disk) prune(b *bolt.Bucket) error {
	if d.delivered <= d.cfg.KeepCount && d.delivered < 64 {
		return nil // nothing to do, or too few to bother reading ages
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.First() {
		if d.delivered <= d.cfg.KeepCount {
			r, err := decode(keySeq(k), v)
			if err != nil || !r.Finished.Before(time.Now().Add(-d.cfg.KeepAge)) {
				return nil
			}
		}
		if err := c.Delete(); err != nil {
			return err
		}
		d.delivered--
	}
	return nil
}
