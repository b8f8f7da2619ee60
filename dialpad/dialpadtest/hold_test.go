package dialpadtest

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHoldNextAnswer: a held create creates, says so on done, and answers
// only once released; the next create is not held.
func TestHoldNextAnswer(t *testing.T) {
	s := newServer(t, Config{APIKey: "k"})
	done, release := s.HoldNextAnswer(http.MethodPost, "/api/v2/websockets")
	post := func() <-chan int {
		status := make(chan int, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodPost, s.URL()+"/api/v2/websockets", strings.NewReader(`{}`))
			req.Header.Set("Authorization", "Bearer k")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				status <- 0
				return
			}
			resp.Body.Close()
			status <- resp.StatusCode
		}()
		return status
	}
	answered := post()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the held create never reached the store")
	}
	s.mu.Lock()
	n := len(s.websockets)
	s.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d websockets while the answer is held, want the one created", n)
	}
	select {
	case code := <-answered:
		t.Fatalf("answered %d while held", code)
	default:
	}
	if code := <-post(); code != http.StatusOK {
		t.Errorf("the next create answered %d, want 200 (not held)", code)
	}
	release()
	release()
	if code := <-answered; code != http.StatusOK {
		t.Errorf("released answer %d, want 200", code)
	}
}
