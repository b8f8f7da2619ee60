package bench

import (
	"crypto/sha256"
	"io"
	"net/http"
	"sync"
	"time"
)

// receiver is the handler both paths POST to. It knows every event of a
// run in advance and records when each first arrived.
type receiver struct {
	index map[[sha256.Size]byte]int // body digest → event number; read-only during a run

	mu      sync.Mutex
	arrived []time.Time
	count   int
	unknown int
	done    chan struct{} // closed when count reaches want
	want    int
}

func newReceiver(bodies [][]byte) *receiver {
	r := &receiver{index: make(map[[sha256.Size]byte]int, len(bodies))}
	for i, b := range bodies {
		r.index[sha256.Sum256(b)] = i
	}
	r.reset(len(bodies))
	return r
}

// reset forgets all arrivals and waits for want new ones.
func (r *receiver) reset(want int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.arrived = make([]time.Time, len(r.index))
	r.count, r.unknown, r.want = 0, 0, want
	r.done = make(chan struct{})
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	now := time.Now()
	i, ok := r.index[sha256.Sum256(body)]
	r.mu.Lock()
	switch {
	case !ok:
		r.unknown++
	case r.arrived[i].IsZero():
		r.arrived[i] = now
		r.count++
		if r.count == r.want {
			close(r.done)
		}
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// wait blocks until want events arrived, or the timeout passes, or quit
// (which may be nil) is closed; it returns the time of the last arrival.
func (r *receiver) wait(timeout time.Duration, quit <-chan struct{}) (last time.Time, ok bool) {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	select {
	case <-done:
	case <-quit:
		return time.Time{}, false
	case <-time.After(timeout):
		return time.Time{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.arrived {
		if t.After(last) {
			last = t
		}
	}
	return last, true
}

// at returns when event i arrived (zero if it did not).
func (r *receiver) at(i int) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.arrived[i]
}
