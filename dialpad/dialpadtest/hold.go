package dialpadtest

import (
	"context"
	"sync"
)

// hold is one HoldNextAnswer: the request it took, if any, does its work,
// closes done, then waits for release before it answers.
type hold struct {
	method, path string
	taken        bool
	done         chan struct{}
	release      chan struct{}
	once         sync.Once
}

func (h *hold) free() { h.once.Do(func() { close(h.release) }) }

// HoldNextAnswer makes the next REST request with method and path (as in
// RESTCall, e.g. "POST", "/api/v2/websockets") do its work and log its
// call, then hold its answer, as when a server's answer is lost or slow.
// done is closed once the work is done (a create has created); the answer
// is written when release is called, the client goes away, or the server
// closes, whichever is first. Release may be called more than once.
func (s *Server) HoldNextAnswer(method, path string) (done <-chan struct{}, release func()) {
	h := &hold{method: method, path: path, done: make(chan struct{}), release: make(chan struct{})}
	s.mu.Lock()
	s.holds = append(s.holds, h)
	s.mu.Unlock()
	return h.done, h.free
}

// takeHold returns the first hold not yet taken for method and path, or nil.
func (s *Server) takeHold(method, path string) *hold {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.holds {
		if !h.taken && h.method == method && h.path == path {
			h.taken = true
			return h
		}
	}
	return nil
}

// wait blocks a held answer until it is released, ctx (the request's) is
// done, or the server closes (Close releases every hold).
func (h *hold) wait(ctx context.Context) {
	close(h.done)
	select {
	case <-h.release:
	case <-ctx.Done():
	}
}

// releaseHolds frees every hold, for Close.
func (s *Server) releaseHolds() {
	s.mu.Lock()
	holds := s.holds
	s.mu.Unlock()
	for _, h := range holds {
		h.free()
	}
}
