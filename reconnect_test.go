package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"
)

// TestReconnectWaitFlags: --reconnect-wait-min and --reconnect-wait-max
// set the waits between connection attempts (the reconnect backoff,
// 1 s → 60 s in Dialpad's notes, which are inferred): each attempt here
// fails (the websocket_url names a closed port), and every wait logged is
// within the flags, where the default's first is 250–500 ms.
func TestReconnectWaitFlags(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.Addr().String()
	closed.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":7,"websocket_url":"ws://%s/events/tok"}`, addr)
	}))
	defer api.Close()
	r := start(t, "listen", "--api-base", api.URL, "--api-key", "k", "--websocket-id", "7", "--no-spool",
		"--forward-to", "http://127.0.0.1:1/hook", "--reconnect-wait-min", "2ms", "--reconnect-wait-max", "8ms")
	waits := regexp.MustCompile(`connect failed .*retry_in=(\S+)`)
	deadline := time.After(20 * time.Second)
	for len(waits.FindAllStringSubmatch(r.stdout.String(), -1)) < 6 {
		select {
		case <-r.stdout.notify():
		case <-deadline:
			t.Fatalf("fewer than 6 failed connects within 20 s:\n%s", r.stdout.String())
		}
	}
	r.stop(t)
	for _, m := range waits.FindAllStringSubmatch(r.stdout.String(), -1) {
		d, err := time.ParseDuration(m[1])
		if err != nil || d > 8*time.Millisecond {
			t.Errorf("retry_in=%s, want at most --reconnect-wait-max 8ms", m[1])
		}
	}
}
