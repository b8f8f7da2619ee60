package bench

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// seed makes every run's events the same, so a process of its own can
// generate the burst that Run's receiver expects (see PostBurst).
const seed = 7

// PostBurst is the direct loop run from a process of its own (`bench
// --bare` starts it as `bench-direct`): it generates the first events of a
// run's burst, as Run does, calls ready (which returns when the bench says
// go), then POSTs them to url with concurrency goroutines and returns once
// every POST was answered.
func PostBurst(ctx context.Context, url string, events, concurrency int, ready func() error) error {
	if events <= 0 || concurrency <= 0 {
		return errors.New("bench: want at least one event and one POST at a time")
	}
	gen := dialpadtest.NewGenerator(seed)
	burst := make([][]byte, events)
	for i := range burst {
		_, burst[i] = gen.Next()
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	if err := ready(); err != nil {
		return err
	}
	return postAll(ctx, client, url, burst, concurrency)
}

// postAll POSTs every body with concurrency goroutines, each owning its
// POSTs; it returns when they are all done, with the first error.
func postAll(ctx context.Context, client *http.Client, url string, bodies [][]byte, concurrency int) error {
	var wg sync.WaitGroup
	errs := make(chan error, concurrency)
	next := make(chan []byte)
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				if err := postJSON(ctx, client, url, b); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for _, b := range bodies {
		select {
		case next <- b:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select { // one of the last POSTs may have failed after the feed ended
		case err = <-errs:
		default:
		}
	}
	return err
}

// directProcess measures the burst's direct loop run by cfg.DirectProcess
// in a process of its own: from its go to the last arrival.
func directProcess(ctx context.Context, cfg Config, url string, rc *receiver) (Path, error) {
	rc.reset(cfg.Events)
	var start time.Time
	if err := cfg.DirectProcess(ctx, url, cfg.Events, cfg.Concurrency, func() { start = time.Now() }); err != nil {
		return Path{}, err
	}
	if start.IsZero() {
		return Path{}, errors.New("it never started sending")
	}
	last, ok := rc.wait(time.Minute, nil)
	if !ok {
		return Path{}, errors.New("not every event arrived")
	}
	return Path{PerSecond: float64(cfg.Events) / last.Sub(start).Seconds()}, nil
}
