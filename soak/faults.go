package soak

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/gorilla/websocket"
)

// Fault kinds, as named in Report.Faults.
const (
	FaultAbrupt    = "tcp drop (1006)"  // every connection closed without a close frame
	FaultGoingAway = "close 1001"       // server close frame 1001 going away
	FaultInternal  = "close 1011"       // server close frame 1011 internal error
	FaultHandshake = "handshake 503"    // the next 1-3 websocket handshakes refused
	FaultREST429   = "refresh 429"      // the next 1-2 REST calls answer 429 with Retry-After
	FaultREST500   = "refresh 500"      // the next 1-3 REST calls answer 500
	FaultNoPong    = "pings unanswered" // the fake ignores pings for Config.PongOff
)

// FaultKinds lists every fault the soak injects, in report order.
var FaultKinds = []string{FaultAbrupt, FaultGoingAway, FaultInternal, FaultHandshake, FaultREST429, FaultREST500, FaultNoPong}

// injector picks faults from a seeded random source and applies them to
// the fake. It is used by the publisher's goroutine only.
type injector struct {
	srv   *dialpadtest.Server
	cfg   Config
	rng   *rand.Rand
	next  time.Time // when the next fault is due
	pong  time.Time // when to answer pings again; zero while they are answered
	count map[string]int
	log   io.Writer // the gap log, which copies a line per fault to Config.AgentLog
}

func newInjector(srv *dialpadtest.Server, cfg Config, log io.Writer) *injector {
	return &injector{
		srv:   srv,
		cfg:   cfg,
		rng:   rand.New(rand.NewPCG(uint64(cfg.Seed), 0x50a4)),
		count: make(map[string]int),
		log:   log,
	}
}

// schedule sets the first fault after start.
func (in *injector) schedule(start time.Time) { in.next = start.Add(in.interval()) }

// interval is uniform in [FaultEvery/2, 3·FaultEvery/2).
func (in *injector) interval() time.Duration {
	half := in.cfg.FaultEvery / 2
	return half + time.Duration(in.rng.Int64N(int64(in.cfg.FaultEvery)))
}

// maybe ends a pong fault whose time is up and injects the next fault if
// it is due.
func (in *injector) maybe(now time.Time) {
	if !in.pong.IsZero() && !now.Before(in.pong) {
		in.srv.SetPong(true)
		in.pong = time.Time{}
	}
	if now.Before(in.next) {
		return
	}
	in.next = now.Add(in.interval())
	kind := in.cfg.Kinds[in.rng.IntN(len(in.cfg.Kinds))]
	switch kind {
	case FaultAbrupt:
		in.srv.DropConnectionsAbruptly()
	case FaultGoingAway:
		in.srv.DropConnections(websocket.CloseGoingAway, "going away")
	case FaultInternal:
		in.srv.DropConnections(websocket.CloseInternalServerErr, "internal error")
	case FaultHandshake:
		in.srv.RefuseNextHandshakes(1+in.rng.IntN(3), http.StatusServiceUnavailable)
	case FaultREST429:
		in.srv.FailNextREST(1+in.rng.IntN(2), http.StatusTooManyRequests, time.Second)
	case FaultREST500:
		in.srv.FailNextREST(1+in.rng.IntN(3), http.StatusInternalServerError, 0)
	case FaultNoPong:
		if !in.pong.IsZero() {
			return // already on: not counted
		}
		in.srv.SetPong(false)
		in.pong = now.Add(in.cfg.PongOff)
	}
	in.count[kind]++
	if in.cfg.AgentLog != nil {
		fmt.Fprintf(in.log, "{\"time\":%q,\"level\":\"INFO\",\"msg\":\"soak: fault injected\",\"fault\":%q}\n",
			time.Now().Format(time.RFC3339Nano), kind)
	}
}

// stop ends a pong fault in progress.
func (in *injector) stop() {
	if !in.pong.IsZero() {
		in.srv.SetPong(true)
		in.pong = time.Time{}
	}
}
