package demo

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// receiver is the demo's sample webhook handler. It checks every POST the
// way a real handler would (Content-Type, JSON or a JWT verified with the
// websocket's secret) and records when each distinct body arrived.
type receiver struct {
	secret string

	mu       sync.Mutex
	arrived  map[[sha256.Size]byte]time.Time
	dups     int
	rejected []string // why a POST was refused, one line each
	changed  chan struct{}
}

func newReceiver(secret string) *receiver {
	return &receiver{secret: secret, arrived: make(map[[sha256.Size]byte]time.Time), changed: make(chan struct{}, 1)}
}

// ServeHTTP handles one webhook POST.
func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	now := time.Now()
	if err == nil {
		err = rc.check(r, body)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err != nil {
		rc.rejected = append(rc.rejected, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	sum := sha256.Sum256(body)
	if _, ok := rc.arrived[sum]; ok {
		rc.dups++
	} else {
		rc.arrived[sum] = now
	}
	select {
	case rc.changed <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// check verifies one body like a webhook handler written for Dialpad would.
func (rc *receiver) check(r *http.Request, body []byte) error {
	ct := r.Header.Get("Content-Type")
	if rc.secret == "" {
		if ct != "application/json" {
			return fmt.Errorf("Content-Type %q, want application/json", ct)
		}
		return nil
	}
	if ct != "application/jwt" {
		return fmt.Errorf("Content-Type %q, want application/jwt", ct)
	}
	_, err := jwt.Parse(string(body), func(*jwt.Token) (any, error) { return []byte(rc.secret), nil },
		jwt.WithValidMethods([]string{"HS256"}))
	if err != nil {
		return fmt.Errorf("JWT does not verify with the websocket secret: %w", err)
	}
	return nil
}

// arrivedAt returns when the body with this digest first arrived.
func (rc *receiver) arrivedAt(sum [sha256.Size]byte) (time.Time, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	t, ok := rc.arrived[sum]
	return t, ok
}

// counts returns the distinct bodies received, duplicates and rejections.
func (rc *receiver) counts() (distinct, dups int, rejected []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.arrived), rc.dups, append([]string(nil), rc.rejected...)
}
