package soak

import (
	"crypto/sha256"
	"io"
	"net/http"
	"sync"
	"time"
)

// receiver is the soak's webhook handler: it answers 204 and records when
// each distinct body first arrived and how many bodies arrived again.
type receiver struct {
	mu      sync.Mutex
	arrived map[[sha256.Size]byte]time.Time
	dups    int
	changed chan struct{} // a send after every POST, dropped when full
}

func newReceiver() *receiver {
	return &receiver{arrived: make(map[[sha256.Size]byte]time.Time), changed: make(chan struct{}, 1)}
}

// ServeHTTP handles one POST from the agent.
func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	now := time.Now()
	sum := sha256.Sum256(body)
	rc.mu.Lock()
	if _, ok := rc.arrived[sum]; ok {
		rc.dups++
	} else {
		rc.arrived[sum] = now
	}
	rc.mu.Unlock()
	select {
	case rc.changed <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// arrivedAt returns when the body with this digest first arrived.
func (rc *receiver) arrivedAt(sum [sha256.Size]byte) (time.Time, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	t, ok := rc.arrived[sum]
	return t, ok
}

// counts returns the distinct bodies received and the repeated ones.
func (rc *receiver) counts() (distinct, dups int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.arrived), rc.dups
}
