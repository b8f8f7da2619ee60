package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestDedupeWindowFlag: --dedupe-window is how long a frame is
// remembered to drop its copy on another connection (about 2 minutes in
// Dialpad's notes, which are inferred). Two subscriptions' connections
// carry the same frame 1.5 s apart: by default the second copy is
// dropped; with --dedupe-window 1s it is forwarded too.
func TestDedupeWindowFlag(t *testing.T) {
	for _, tc := range []struct {
		extra  []string
		copies int
	}{
		{nil, 1},
		{[]string{"--dedupe-window", "1s"}, 2},
	} {
		if got := copiesForwarded(t, 1500*time.Millisecond, tc.extra...); got != tc.copies {
			t.Errorf("listen %s: the frame forwarded %d times, want %d", strings.Join(tc.extra, " "), got, tc.copies)
		}
	}
}

// copiesForwarded runs listen on two call subscriptions whose
// connections both carry one frame, the second copy gap after the first
// was delivered, and reports how often the frame reached the handler.
func copiesForwarded(t *testing.T, gap time.Duration, extra ...string) int {
	const frame = `{"call_id":6421977457180672,"state":"hangup"}`
	const marker = `{"call_id":6421977457180672,"state":"recap_summary"}` // after the second copy, in the same call's order
	h := newHook(t, nil)
	opened := make(chan *websocket.Conn, 2)
	var upgrader websocket.Upgrader
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		opened <- c
		for { // read until the agent closes it (pongs, the close)
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}))
	defer ws.Close()
	wsURL := "ws" + strings.TrimPrefix(ws.URL, "http")
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%s,"enabled":true,"websocket":{"id":7,"websocket_url":"%s/events/%s"}}`, id, wsURL, id)
	}))
	defer api.Close()
	args := append([]string{"listen", "--api-base", api.URL, "--api-key", "k", "--no-spool",
		"--subscription", "call:9", "--subscription", "call:10", "--forward-to", h.URL}, extra...)
	r := start(t, args...)
	var conns []*websocket.Conn
	for len(conns) < 2 {
		select {
		case c := <-opened:
			defer c.Close()
			conns = append(conns, c)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of 2 connections opened within 10 s", len(conns))
		}
	}
	if err := conns[0].WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatal(err)
	}
	h.waitRequests(t, 1, 10*time.Second)
	time.Sleep(gap) // the time between the copies, which the window is measured against; not a wait for anything
	for _, m := range []string{frame, marker} {
		if err := conns[1].WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for { // until the marker, which comes after the second copy, forwarded or not
		got := h.waitRequests(t, n+1, 10*time.Second)
		if n = len(got); string(got[n-1].body) == marker {
			break
		}
	}
	r.stop(t)
	copies := 0
	for _, req := range h.waitRequests(t, n, time.Second) {
		if string(req.body) == frame {
			copies++
		}
	}
	return copies
}
