package forward

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// benchEvent is a call event of typical size (about 1 KiB).
var benchEvent = []byte(`{"call_id":6543210987654321,"state":"hangup","direction":"inbound","date_started":1735689600000,` +
	`"date_rang":1735689601000,"date_connected":1735689605000,"date_ended":1735689700000,"duration":95000.0,` +
	`"external_number":"+15555550123","internal_number":"+15555550199","entry_point_call_id":6543210987654320,` +
	`"master_call_id":null,"is_transferred":false,"was_recorded":true,"mos_score":4.38,"labels":["sales","vip"],` +
	`"target":{"id":5123456789012345,"type":"user","name":"Ada Lovelace","email":"ada@example.com","phone":"+15555550199","office_id":4567890123456789},` +
	`"contact":{"id":"http://www.google.com/m8/feeds/contacts/ada%40example.com/base/1a2b3c","type":"shared","name":"Charles Babbage","phone":"+15555550123","email":"charles@example.com"},` +
	`"recording_details":[{"id":"abc123","recording_type":"user","start_time":1735689606000,"duration":90000,"url":"https://dialpad.com/r/abc123"}],` +
	`"event_timestamp":1735689700123,"proxy_target":{},"group_id":"Office:4567890123456789"}`)

// benchForwarder returns a Forwarder to a handler that reads the body and
// answers 204, recording nothing.
func benchForwarder(b *testing.B) *Forwarder {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	return newForwarder(b, srv.URL+"/hook", Config{})
}

// BenchmarkDeliver measures one Deliver after another over a keep-alive
// connection, handler included.
func BenchmarkDeliver(b *testing.B) {
	f := benchForwarder(b)
	ctx := context.Background()
	req := Request{ID: "8f14e45f-ceea-467f-a0e6-9b2e4d2b0c4a", Body: benchEvent, Type: "call"}
	b.SetBytes(int64(len(benchEvent)))
	b.ReportAllocs()
	for b.Loop() {
		if res := f.Deliver(ctx, req); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}

// BenchmarkDeliverParallel measures Deliver from GOMAXPROCS goroutines, as
// the spool's workers call it.
func BenchmarkDeliverParallel(b *testing.B) {
	f := benchForwarder(b)
	ctx := context.Background()
	b.SetBytes(int64(len(benchEvent)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res := f.Deliver(ctx, Request{Body: benchEvent, Type: "call"}); res.Err != nil {
				b.Error(res.Err)
				return
			}
		}
	})
}

// BenchmarkDeliverStoppable measures Deliver as the agent calls it: with a
// context of its own, a Stop (its drain) and a StopAt (the event's max
// age), StopQueued.
func BenchmarkDeliverStoppable(b *testing.B) {
	f := benchForwarder(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	draining, stop := context.WithCancel(ctx)
	defer stop()
	b.SetBytes(int64(len(benchEvent)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := Request{Body: benchEvent, Type: "call", Stop: draining, StopAt: time.Now().Add(time.Hour), StopQueued: true}
			if res := f.Deliver(ctx, req); res.Err != nil {
				b.Error(res.Err)
				return
			}
		}
	})
}

// BenchmarkNewRequest measures making one delivery's request, its URL
// parsed once in New (parsed) or for each request (parsing).
func BenchmarkNewRequest(b *testing.B) {
	for _, parsed := range []bool{true, false} {
		name := "parsed"
		if !parsed {
			name = "parsing"
		}
		b.Run(name, func(b *testing.B) {
			f := newForwarder(b, "http://127.0.0.1:8080/hook?x=1", Config{})
			if !parsed {
				f.reqURL = nil
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.newRequest(ctx, benchEvent); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
