package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/gorilla/websocket"
)

// BareForward is the least a forwarder can do, as a reference for the agent's
// figures: it reads frames from the websocket and POSTs each to forwardTo
// with concurrency workers over net/http's kept connections. It has no
// spool, no ordering, no retries and no checks; a failed POST ends it with
// an error. It fetches the websocket URL as listen does, and runs until ctx
// is done or the connection closes.
//
// It starts concurrency workers, each owning its POSTs; they stop once the
// reader (the caller's goroutine) has closed the queue, and BareForward
// waits for them.
func BareForward(ctx context.Context, apiBase, apiKey string, websocketID int64, forwardTo string, concurrency int) error {
	api, err := dialpad.New(dialpad.Config{BaseURL: apiBase, APIKey: apiKey})
	if err != nil {
		return fmt.Errorf("bench: bare forwarder: %w", err)
	}
	ws, err := api.Websocket(ctx, dialpad.ID(websocketID))
	if err != nil {
		return fmt.Errorf("bench: bare forwarder: %w", err)
	}
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, ws.URL, nil)
	if err != nil {
		return fmt.Errorf("bench: bare forwarder: connect: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	var (
		failOnce sync.Once
		failed   atomic.Bool
		firstErr error // set once, read after the workers are done
	)
	fail := func(err error) {
		failOnce.Do(func() {
			firstErr = err
			failed.Store(true)
			conn.Close() // ends the reader
		})
	}
	queue := make(chan []byte, 1<<16) // a full queue holds the reader back: TCP backpressure, no drop
	var wg sync.WaitGroup
	for range max(concurrency, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range queue { // drained to the end, so the reader never waits on a dead worker
				if failed.Load() {
					continue
				}
				if err := postJSON(ctx, client, forwardTo, body); err != nil {
					fail(err)
				}
			}
		}()
	}
	var readErr error
	for {
		_, frame, err := conn.ReadMessage()
		if err != nil {
			readErr = err
			break
		}
		queue <- frame
	}
	close(queue)
	wg.Wait()
	switch {
	case ctx.Err() != nil:
		return nil // stopped: what was still queued is not the reference's concern
	case failed.Load():
		return fmt.Errorf("bench: bare forwarder: %w", firstErr)
	}
	if websocket.IsCloseError(readErr, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
		return nil
	}
	return fmt.Errorf("bench: bare forwarder: read: %w", readErr)
}

// postJSON POSTs body as application/json and reads the whole answer; an
// answer other than 2xx is an error.
func postJSON(ctx context.Context, client *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return errors.New("handler answered " + resp.Status)
	}
	return nil
}
