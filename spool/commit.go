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
	var batch, carry []op
	pace := time.NewTimer(0)
	defer pace.Stop()
	var last time.Time
	for {
		batch = append(batch[:0], carry...)
		if len(batch) == 0 {
			select {
			case o := <-d.ops:
				batch = append(batch, o)
			case <-ctx.Done():
				return d.flush()
			}
		}
		// Under load, let a batch gather for CommitInterval: fewer syncs,
		// and nobody waits for them (delivery does not).
		if wait := d.cfg.CommitInterval - time.Since(last); wait > 0 && len(d.ops) < cap(d.ops)/2 {
			pace.Reset(wait)
			select {
			case <-pace.C:
			case <-ctx.Done():
				return d.flushWith(batch)
			}
		}
		last = time.Now()
		batch = d.fill(batch)
		var err error
		if carry, err = d.commit(batch, true, carry[:0]); err != nil {
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
func (d *Disk) flush() error { return d.flushWith(nil) }

// flushWith commits batch and then everything left in the queue.
func (d *Disk) flushWith(batch []op) error {
	for {
		batch = d.fill(batch)
		if len(batch) == 0 {
			return nil
		}
		if _, err := d.commit(batch, false, nil); err != nil {
			return err
		}
		batch = batch[:0]
	}
}

// commit writes one batch in one transaction, then reports its appends
// as stored. With carryYoung, appends younger than CommitInterval whose
// delivery has not ended yet are not written but returned (appended to
// carry) for the next batch: most events are delivered within that time
// and are then written once, straight as delivered.
func (d *Disk) commit(batch []op, carryYoung bool, carry []op) ([]op, error) {
	var last uint64
	// An event delivered (or given up on) before its append was committed
	// is written once, straight to its final bucket.
	early := d.finishedEarly(batch)
	carried := make(map[uint64]bool)
	if carryYoung {
		for i := range batch {
			o := &batch[i]
			if o.kind == opAppend && early[o.ev.Seq] == nil && time.Since(o.at) < d.cfg.CommitInterval {
				carried[o.ev.Seq] = true
				carry = append(carry, *o)
			}
		}
	}
	err := d.db.Update(func(tx *bolt.Tx) error {
		pending := tx.Bucket(bucketPending)
		for i := range batch {
			o := &batch[i]
			var err error
			switch o.kind {
			case opAppend:
				if carried[o.ev.Seq] {
					break
				}
				last = max(last, o.ev.Seq)
				if f, ok := early[o.ev.Seq]; ok {
					err = d.putFinished(tx, o, f)
				} else {
					err = d.putPending(pending, o)
				}
			case opAck, opDead:
				if _, ok := early[o.ev.Seq]; ok {
					break // written with its append
				}
				if o.kind == opAck {
					err = d.finish(tx, o, Delivered, bucketDelivered)
				} else {
					err = d.finish(tx, o, Dead, bucketDead)
				}
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
		if err := d.prune(tx.Bucket(bucketDelivered)); err != nil {
			return err
		}
		d.mapSize = tx.Size()
		return nil
	})
	if err != nil {
		return carry, fmt.Errorf("spool: %s: write: %w", d.cfg.Path, err)
	}
	durable := last
	for seq := range carried {
		durable = min(durable, seq-1) // seqs up to durable are all on disk
	}
	if durable != 0 {
		d.markDurable(durable)
	}
	d.releaseMap()
	for i := range batch {
		o := &batch[i]
		if o.kind == opAppend && o.committed != nil && !carried[o.ev.Seq] {
			o.committed(o.ev)
		}
		batch[i] = op{} // drop the body reference
	}
	return carry, nil
}

// finishedEarly maps the seq of each append in batch to the ack or dead op
// that follows it in the same batch.
func (d *Disk) finishedEarly(batch []op) map[uint64]*op {
	var appended, early map[uint64]*op
	for i := range batch {
		o := &batch[i]
		switch o.kind {
		case opAppend:
			if appended == nil {
				appended = make(map[uint64]*op)
			}
			appended[o.ev.Seq] = o
		case opAck, opDead:
			if appended[o.ev.Seq] != nil {
				if early == nil {
					early = make(map[uint64]*op)
				}
				early[o.ev.Seq] = o
			}
		}
	}
	return early
}

// putFinished writes an appended event that was already delivered (or
// given up on) directly as delivered (or dead).
func (d *Disk) putFinished(tx *bolt.Tx, o, f *op) error {
	state, to := Delivered, bucketDelivered
	if f.kind == opDead {
		state, to = Dead, bucketDead
	}
	if state == Delivered && d.cfg.KeepCount < 0 {
		return nil
	}
	r := Record{Event: o.ev, State: Pending}
	v, err := r.encode()
	if err != nil {
		return err
	}
	nv, err := withOutcome(v, recordOutcome{State: state, Attempts: f.attempts, Reason: f.reason, Finished: f.at})
	if err != nil {
		return err
	}
	if state == Delivered {
		d.delivered++
	}
	return tx.Bucket(to).Put(seqKey(o.ev.Seq), nv)
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
