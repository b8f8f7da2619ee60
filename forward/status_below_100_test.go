package forward

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
)

// answerRaw answers with the raw bytes of an answer and keeps the
// connection.
func answerRaw(answer string) rawAct {
	return func(c net.Conn) bool {
		io.WriteString(c, answer)
		return true
	}
}

// A status below 100 is no HTTP status, as one of 600 or more is not: it
// is retried as a server error (here: then 204, delivered on the second
// attempt). It used to be a final answer, the event a dead letter after
// one attempt, and "000" read as no answer at all (status 0).
func TestStatusBelow100Retried(t *testing.T) {
	for _, code := range []string{"000", "099"} {
		t.Run(code, func(t *testing.T) {
			url, seen, _ := rawServer(t, answerRaw("HTTP/1.1 "+code+" Odd\r\nContent-Length: 0\r\n\r\n"), answer204)
			f := newForwarder(t, url, Config{MaxAttempts: 3})
			res := f.Deliver(context.Background(), Request{Body: []byte(`{"call_id":1}`)})
			if res.Err != nil || res.Status != 204 || res.Attempts != 2 {
				t.Fatalf("Deliver = status %d after %d attempts, err %v; want 204 after 2", res.Status, res.Attempts, res.Err)
			}
			if h := res.History[0]; h.Status != 0 || !strings.Contains(h.Err, "malformed HTTP status code "+code) {
				t.Errorf("first attempt = %+v, want an error naming status %s", h, code)
			}
			if got := drained(seen); len(got) != 2 {
				t.Errorf("handler saw %d POSTs, want 2", len(got))
			}
		})
	}
}
