package forward

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestAnswerHeaderBounded: a handler whose answer's header never ends (a
// broken handler, or something else listening on its port) fails the
// attempt once the header passes maxHeaderBytes, instead of the header
// being read into memory until the attempt's timeout (a review saw 800 MB
// for one attempt in 10 s). A large header within the bound is read as
// usual.
func TestAnswerHeaderBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const sendAtMost = 64 << 20
	var sent atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(c)
			req, err := http.ReadRequest(br)
			if err != nil {
				c.Close()
				continue
			}
			big := req.URL.Path == "/endless"
			line := "X-Filler: " + strings.Repeat("a", 4000) + "\r\n"
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"))
			if !big {
				c.Write([]byte(strings.Repeat(line, 16) + "\r\n")) // 64 KB
				c.Close()
				continue
			}
			block := []byte(strings.Repeat(line, 256))
			for sent.Load() < sendAtMost {
				n, err := c.Write(block)
				sent.Add(int64(n))
				if err != nil {
					break
				}
			}
			c.Close()
		}
	}()
	base := "http://" + ln.Addr().String()
	ctx := context.Background()

	f := newForwarder(t, base+"/large", Config{MaxAttempts: 1, Timeout: 10 * time.Second})
	if res := f.Deliver(ctx, Request{Body: []byte(jsonEvent)}); res.Err != nil || res.Status != 200 {
		t.Fatalf("a 64 KB header: %+v, want delivered", res)
	}

	f = newForwarder(t, base+"/endless", Config{MaxAttempts: 1, Timeout: 10 * time.Second})
	res := f.Deliver(ctx, Request{Body: []byte(jsonEvent)})
	if res.Err == nil || !errors.Is(res.Err, errHeaderTooLarge) && !strings.Contains(res.Err.Error(), errHeaderTooLarge.Error()) {
		t.Errorf("an endless header: %+v, want errHeaderTooLarge", res)
	}
	if n := sent.Load(); n >= sendAtMost {
		t.Errorf("the handler sent %d MiB of header before the attempt gave up, want about %d MiB", n>>20, maxHeaderBytes>>20)
	}
	ln.Close()
	<-done
}
