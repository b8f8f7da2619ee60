package agent

import (
	"context"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
	"github.com/google/uuid"
)

// deliverLoop is one delivery worker: it takes the next event whose key is
// free, forwards it and releases the key. It ends when the queue is closed
// and empty, or when ctx is done.
func (a *Agent) deliverLoop(ctx context.Context) {
	for {
		ev, err := a.cfg.Queue.Next(ctx)
		if err != nil {
			return
		}
		res := a.cfg.Forwarder.Deliver(ctx, forward.Request{ID: ev.ID, Body: ev.Body, JWT: ev.JWT, Type: ev.Type})
		a.cfg.Queue.Done(ev)
		total := time.Since(ev.Received)
		if res.Err != nil {
			a.stats.failed.Add(1)
			a.log.Error("delivery failed", "type", ev.Type, "key", ev.Key, "id", ev.ID,
				"status", res.Status, "attempts", res.Attempts, "latency", total.Round(time.Microsecond).String(), "reason", res.Err.Error())
			continue
		}
		a.stats.delivered.Add(1)
		a.log.Info("event delivered", "type", ev.Type, "key", ev.Key, "id", ev.ID,
			"status", res.Status, "attempts", res.Attempts, "latency", total.Round(time.Microsecond).String())
	}
}

func newDeliveryID() string { return uuid.NewString() }
