// Package bench measures, in one run on loopback, the whole agent path
// (fake Dialpad → websocket → agent → handler) against a direct HTTP POST
// loop to the same handler: burst throughput and latency at a steady rate.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/demo"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// Config sizes a run; zero values get the defaults named.
type Config struct {
	Events      int // burst size; default 20000
	Concurrency int // parallel POSTs on both paths; default 8
	// Rounds is how many bursts each path makes, each agent (and bare
	// forwarder) burst just after a direct one, so that a pair shares the
	// machine's state of the moment; the figures are the medians. Default 1.
	Rounds  int
	Rate    int           // events/s of the latency phase; default 200
	RateFor time.Duration // length of the latency phase; default 5s
	Out     io.Writer     // the table; default io.Discard

	// Probe, when set, reads the agent's own figures: listen runs it as a
	// separate process.
	Probe Probe
	// Backlog events are published behind a handler that answers 503, with
	// BacklogListen running the agent, to measure its memory with that many
	// pending, read with BacklogProbe; 0 skips the phase.
	Backlog       int
	BacklogListen demo.Listen
	BacklogProbe  Probe
	// Bare, when set, runs a bare forwarder (see BareForward) on the
	// agent's path as a third row: what any forwarder reaches on this machine.
	Bare      demo.Listen
	BareProbe Probe // reads the bare forwarder's CPU time when it runs as its own process
	// DirectProcess, when set, runs the direct loop's burst from a process
	// of its own (see PostBurst) as a fourth row: the same POSTs, but from
	// outside the handler's process, as the agent's are. It calls start
	// just before that process sends, and returns once it exited.
	DirectProcess func(ctx context.Context, url string, events, concurrency int, start func()) error
}

// Probe reads figures of an agent that runs as its own process.
type Probe interface {
	Received() int64              // events it logged as received so far
	PeakRSS() int64               // peak resident set of its last finished run, bytes
	PeakNow() int64               // peak resident set of the running one so far, bytes
	RSSParts() (anon, file int64) // largest anonymous and file-backed parts seen, bytes
	CPU() time.Duration           // user and system CPU time of its last finished run
}

// Path is what one path measured.
type Path struct {
	PerSecond float64       // burst throughput
	P50, P99  time.Duration // latency at Rate
}

// Report is a whole run.
type Report struct {
	Config
	EventBytes    int // mean event size
	Direct, Agent Path
	Bare          Path // the bare forwarder's; zero if not measured
	// AgentRounds and BareRounds are the bursts of each round, with the
	// direct burst made just before (Config.Rounds).
	AgentRounds, BareRounds []Round
	DirectOwn               Path  // burst throughput of the direct loop from its own process; zero if not measured
	AgentRSS                int64 // peak RSS of the agent process over the bursts and latency phase; 0 if unknown
	AgentRSSFirst           int64 // of which over its first burst, as a fresh process; 0 if unknown
	BacklogRSS              int64 // peak RSS of the agent process with Backlog events pending; 0 if not measured
	AgentAnon               int64 // of which anonymous (heap, stacks) at most
	AgentFile               int64 // and file-backed (the binary) at most
	BacklogAnon             int64
	BacklogFile             int64
	AgentCPU                time.Duration // CPU time (user and system) of the agent process over the bursts and latency phase; 0 if unknown
	BareCPU                 time.Duration // the same of the bare forwarder's process
}

// Round is one round's burst throughput (events/s) of the direct loop and
// of the path measured just after it.
type Round struct{ Direct, Via float64 }

// Ratio is the agent's burst throughput as a fraction of the direct loop's:
// the median of the rounds' ratios.
func (r Report) Ratio() float64 { return medianRatio(r.AgentRounds) }

// OwnRatio is the agent's burst throughput as a fraction of the direct
// loop's run from its own process; 0 if that was not measured.
func (r Report) OwnRatio() float64 {
	if r.DirectOwn.PerSecond == 0 {
		return 0
	}
	return r.Agent.PerSecond / r.DirectOwn.PerSecond
}

// BareRatio is the bare forwarder's burst throughput as a fraction of the
// direct loop's, the median of the rounds'; 0 if it was not measured.
func (r Report) BareRatio() float64 { return medianRatio(r.BareRounds) }

// medianRatio is the median of the rounds' Via/Direct; 0 without rounds.
func medianRatio(rounds []Round) float64 {
	ratios := make([]float64, len(rounds))
	for i, r := range rounds {
		ratios[i] = r.Via / r.Direct
	}
	return median(ratios)
}

// median is the middle value (the mean of the two middle ones for an even
// count); 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

// Run measures both paths. listen runs the real agent (see demo.Listen)
// with the concurrency it was built with.
func Run(ctx context.Context, cfg Config, listen demo.Listen) (Report, error) {
	cfg.fill()
	gen := dialpadtest.NewGenerator(seed)
	n := cfg.Events + cfg.Rate*int(cfg.RateFor/time.Second+1)
	types := make([]string, n)
	bodies := make([][]byte, n)
	size := 0
	for i := range bodies {
		types[i], bodies[i] = gen.Next()
		size += len(bodies[i])
	}
	rep := Report{Config: cfg, EventBytes: size / n}
	rc := newReceiver(bodies)
	hook := httptest.NewServer(rc)
	defer hook.Close()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency}}
	defer client.CloseIdleConnections()
	var err error
	if rep.Direct.P50, rep.Direct.P99, err = directSteady(ctx, cfg, client, hook.URL, rc, bodies); err != nil {
		return rep, fmt.Errorf("direct loop: %w", err)
	}
	directBurst := func() (float64, error) {
		perSecond, err := directBurst(ctx, cfg, client, hook.URL, rc, bodies[:cfg.Events])
		if err != nil {
			return 0, fmt.Errorf("direct loop: %w", err)
		}
		return perSecond, nil
	}
	firstBurst := func() {
		if cfg.Probe != nil {
			rep.AgentRSSFirst = cfg.Probe.PeakNow()
		}
	}
	if rep.Agent, rep.AgentRounds, err = viaAgent(ctx, cfg, hook.URL, rc, types, bodies, listen, directBurst, firstBurst); err != nil {
		return rep, fmt.Errorf("agent path: %w", err)
	}
	if cfg.Bare != nil {
		if rep.Bare, rep.BareRounds, err = viaAgent(ctx, cfg, hook.URL, rc, types, bodies, cfg.Bare, directBurst, nil); err != nil {
			return rep, fmt.Errorf("bare forwarder: %w", err)
		}
		if cfg.BareProbe != nil {
			rep.BareCPU = cfg.BareProbe.CPU()
		}
	}
	if cfg.DirectProcess != nil {
		if rep.DirectOwn, err = directProcess(ctx, cfg, hook.URL, rc); err != nil {
			return rep, fmt.Errorf("direct loop from its own process: %w", err)
		}
	}
	var directs []float64
	for _, r := range append(slices.Clone(rep.AgentRounds), rep.BareRounds...) {
		directs = append(directs, r.Direct)
	}
	rep.Direct.PerSecond = median(directs)
	if cfg.Probe != nil {
		rep.AgentRSS = cfg.Probe.PeakRSS()
		rep.AgentAnon, rep.AgentFile = cfg.Probe.RSSParts()
		rep.AgentCPU = cfg.Probe.CPU()
	}
	if cfg.Backlog > 0 && cfg.BacklogProbe != nil && cfg.BacklogListen != nil {
		if rep.BacklogRSS, err = backlog(ctx, cfg, gen); err != nil {
			return rep, fmt.Errorf("backlog: %w", err)
		}
		rep.BacklogAnon, rep.BacklogFile = cfg.BacklogProbe.RSSParts()
	}
	rep.print(cfg.Out)
	return rep, nil
}

func (c *Config) fill() {
	if c.Events <= 0 {
		c.Events = 20000
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.Rounds <= 0 {
		c.Rounds = 1
	}
	if c.Rate <= 0 {
		c.Rate = 200
	}
	if c.RateFor <= 0 {
		c.RateFor = 5 * time.Second
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
}

// directBurst POSTs the burst with Concurrency goroutines and returns its
// throughput, from the first POST to the last arrival.
func directBurst(ctx context.Context, cfg Config, client *http.Client, url string, rc *receiver, burst [][]byte) (float64, error) {
	rc.reset(len(burst))
	start := time.Now()
	if err := postAll(ctx, client, url, burst, cfg.Concurrency); err != nil {
		return 0, err
	}
	last, ok := rc.wait(time.Minute, nil)
	if !ok {
		return 0, errors.New("not every event arrived")
	}
	return float64(len(burst)) / last.Sub(start).Seconds(), nil
}

// directSteady is the direct loop's latency phase: one POST at a time at
// Rate, of the events after the burst.
func directSteady(ctx context.Context, cfg Config, client *http.Client, url string, rc *receiver, bodies [][]byte) (p50, p99 time.Duration, err error) {
	return steady(ctx, cfg, rc, nil, bodies[cfg.Events:], func(i int) error { return postJSON(ctx, client, url, bodies[cfg.Events+i]) })
}

// viaAgent runs the real agent between the fake Dialpad and the handler:
// Rounds bursts, each just after a burst of direct, then the latency
// phase. Its Path has the median burst throughput. firstDone, when set,
// runs once the first burst all arrived.
func viaAgent(ctx context.Context, cfg Config, url string, rc *receiver, types []string, bodies [][]byte, listen demo.Listen,
	direct func() (float64, error), firstDone func()) (Path, []Round, error) {
	srv, err := dialpadtest.NewServer(dialpadtest.Config{})
	if err != nil {
		return Path{}, nil, err
	}
	defer srv.Close()
	wsID, err := srv.AddWebsocketForAll("")
	if err != nil {
		return Path{}, nil, err
	}
	listenCtx, stop := context.WithCancel(ctx)
	var listenErr error
	stopped := make(chan struct{}) // closed once listen returned, with listenErr set
	go func() {
		defer close(stopped)
		listenErr = listen(listenCtx, srv.URL(), srv.APIKey(), wsID, url)
	}()
	defer func() {
		stop()
		<-stopped
	}()
	// failed adds why to a failure of the run: the agent may have stopped
	// with an error (give it a moment: the failure may be its stopping).
	failed := func(msg string) error {
		if ctx.Err() != nil { // cut short (a stop signal): not the agent's failure
			return fmt.Errorf("%s: %w", msg, context.Cause(ctx))
		}
		select {
		case <-stopped:
			return agentStopped(msg, listenErr)
		case <-time.After(5 * time.Second):
			return errors.New(msg)
		}
	}
	if err := waitConnected(ctx, srv, stopped, &listenErr); err != nil {
		return Path{}, nil, err
	}

	publish := func(i int) error {
		if srv.Publish(types[i], bodies[i]).Frames != 1 {
			return failed(fmt.Sprintf("event %d was not written to the agent's connection", i))
		}
		return nil
	}
	var rounds []Round
	for range cfg.Rounds {
		d, err := direct()
		if err != nil {
			return Path{}, rounds, err
		}
		rc.reset(cfg.Events)
		start := time.Now()
		for i := range cfg.Events {
			if err := publish(i); err != nil {
				return Path{}, rounds, err
			}
		}
		last, ok := rc.wait(2*time.Minute, stopped)
		if !ok {
			return Path{}, rounds, failed("not every event arrived")
		}
		rounds = append(rounds, Round{Direct: d, Via: float64(cfg.Events) / last.Sub(start).Seconds()})
		if len(rounds) == 1 && firstDone != nil {
			firstDone()
		}
	}
	vias := make([]float64, len(rounds))
	for i, r := range rounds {
		vias[i] = r.Via
	}
	p := Path{PerSecond: median(vias)}
	p.P50, p.P99, err = steady(ctx, cfg, rc, stopped, bodies[cfg.Events:], func(i int) error { return publish(cfg.Events + i) })
	if errors.Is(err, errNotAll) {
		return p, rounds, failed(errNotAll.Error())
	}
	return p, rounds, err
}

// connectWait bounds how long an agent may take to connect to the fake.
const connectWait = 30 * time.Second

// waitConnected returns once the fake srv has a connection open. If the
// agent stops first (stopped is closed, *listenErr set), it returns at once
// with the agent's error (a flag it refused, say), not after connectWait.
// Its goroutine ends when it returns.
func waitConnected(ctx context.Context, srv *dialpadtest.Server, stopped <-chan struct{}, listenErr *error) error {
	waitCtx, cancel := context.WithTimeout(ctx, connectWait)
	defer cancel()
	go func() {
		select {
		case <-stopped:
			cancel()
		case <-waitCtx.Done():
		}
	}()
	err := srv.WaitConnections(waitCtx, 1)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil { // cut short (a stop signal): not the agent's failure
		return fmt.Errorf("waiting for the agent to connect: %w", context.Cause(ctx))
	}
	select {
	case <-stopped:
		if *listenErr != nil {
			return fmt.Errorf("the agent stopped before it connected: %w", *listenErr)
		}
		return errors.New("the agent stopped before it connected, without an error")
	default:
		return fmt.Errorf("agent did not connect: %w", err)
	}
}

// agentStopped is the failure msg of a run whose agent stopped by itself,
// with the agent's error if it had one.
func agentStopped(msg string, listenErr error) error {
	if listenErr == nil {
		return fmt.Errorf("%s: the agent stopped without an error", msg)
	}
	return fmt.Errorf("%s: the agent stopped: %w", msg, listenErr)
}

// errNotAll is steady's error when not every event arrived.
var errNotAll = errors.New("not every event of the latency phase arrived")

// steady sends one event every 1/Rate for RateFor with send(i) and returns
// the p50 and p99 of send → arrival.
func steady(ctx context.Context, cfg Config, rc *receiver, quit <-chan struct{}, bodies [][]byte, send func(i int) error) (p50, p99 time.Duration, err error) {
	n := min(len(bodies), cfg.Rate*int(cfg.RateFor/time.Second))
	n = max(n, 1)
	rc.reset(n)
	sent := make([]time.Time, n)
	tick := time.NewTicker(time.Second / time.Duration(cfg.Rate))
	defer tick.Stop()
	for i := range n {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
		sent[i] = time.Now()
		if err := send(i); err != nil {
			return 0, 0, err
		}
	}
	if _, ok := rc.wait(time.Minute, quit); !ok {
		return 0, 0, errNotAll
	}
	lat := make([]time.Duration, n)
	for i := range n {
		lat[i] = rc.at(cfg.Events + i).Sub(sent[i])
	}
	return demo.Percentile(lat, 50), demo.Percentile(lat, 99), nil
}

func (r Report) print(w io.Writer) {
	fmt.Fprintf(w, "bench: %d events (mean %d B, all five types, many call ids), concurrency %d, loopback, GOMAXPROCS %d\n",
		r.Events, r.EventBytes, r.Concurrency, runtime.GOMAXPROCS(0))
	if r.Rounds > 1 {
		fmt.Fprintf(w, "%d rounds: each burst of the agent (and of the bare forwarder) just after one of the direct loop; events/s and ratios are the medians\n", r.Rounds)
	}
	fmt.Fprintf(w, "%-26s %12s %14s %14s\n", "path", "events/s", "p50 @"+fmt.Sprint(r.Rate)+"/s", "p99 @"+fmt.Sprint(r.Rate)+"/s")
	row := func(name string, p Path) {
		fmt.Fprintf(w, "%-26s %12.0f %14s %14s\n", name, p.PerSecond, p.P50.Round(time.Microsecond), p.P99.Round(time.Microsecond))
	}
	row("direct POST loop", r.Direct)
	row("agent (fake ws -> handler)", r.Agent)
	if r.Bare.PerSecond > 0 {
		row("bare forwarder", r.Bare)
	}
	if r.DirectOwn.PerSecond > 0 {
		fmt.Fprintf(w, "%-26s %12.0f %14s %14s\n", "direct loop, own process", r.DirectOwn.PerSecond, "-", "-")
	}
	fmt.Fprintf(w, "throughput ratio agent/direct: %.2f%s\n", r.Ratio(), eachRound(r.AgentRounds))
	if r.Bare.PerSecond > 0 {
		fmt.Fprintf(w, "throughput ratio bare forwarder/direct: %.2f (no spool, no order, no retries: what any forwarder reaches here)%s\n", r.BareRatio(), eachRound(r.BareRounds))
	}
	if r.DirectOwn.PerSecond > 0 {
		fmt.Fprintf(w, "throughput ratio direct loop from its own process/direct: %.2f (the same POSTs from outside the handler's process)\n", r.DirectOwn.PerSecond/r.Direct.PerSecond)
		fmt.Fprintf(w, "throughput ratio agent/direct loop from its own process: %.2f\n", r.OwnRatio())
	}
	n := r.Events*r.Rounds + r.Rate*int(r.RateFor/time.Second)
	if r.AgentCPU > 0 {
		fmt.Fprintf(w, "agent CPU over the run: %s user+sys, %.1fµs per event\n",
			r.AgentCPU.Round(time.Millisecond), float64(r.AgentCPU.Microseconds())/float64(n))
	}
	if r.BareCPU > 0 {
		fmt.Fprintf(w, "bare forwarder CPU over the run: %s user+sys, %.1fµs per event\n",
			r.BareCPU.Round(time.Millisecond), float64(r.BareCPU.Microseconds())/float64(n))
	}
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	if r.AgentRSS > 0 {
		fmt.Fprintf(w, "agent peak RSS over the first burst: %.1f MiB; over the run: %.1f MiB (at most %.1f MiB heap and stacks, %.1f MiB file-backed: the binary)\n",
			mib(r.AgentRSSFirst), mib(r.AgentRSS), mib(r.AgentAnon), mib(r.AgentFile))
	}
	if r.BacklogRSS > 0 {
		fmt.Fprintf(w, "agent peak RSS with %d events pending behind a dead handler: %.1f MiB (at most %.1f MiB heap and stacks, %.1f MiB file-backed: the binary)\n",
			r.Backlog, mib(r.BacklogRSS), mib(r.BacklogAnon), mib(r.BacklogFile))
	}
}

// eachRound lists the rounds' ratios, in their order, when there are
// several.
func eachRound(rounds []Round) string {
	if len(rounds) < 2 {
		return ""
	}
	var b strings.Builder
	b.WriteString("; rounds:")
	for _, r := range rounds {
		fmt.Fprintf(&b, " %.2f", r.Via/r.Direct)
	}
	return b.String()
}
