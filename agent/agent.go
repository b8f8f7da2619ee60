// Package agent holds the websocket side of the tunnel: for each source it
// fetches a fresh websocket_url, keeps a connection open (ping/pong,
// rotation before the token expires, reconnects with backoff), classifies
// every frame, drops duplicates seen on overlapping connections and appends
// the rest to the queue; its workers hand queued events to forward.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/forward"
	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// Config configures an Agent. Durations are fields so tests run in
// milliseconds; zero values get the defaults named on each field.
type Config struct {
	Sources    []Source           // required, at least one
	Queue      Queue              // the default route's queue: spool.Disk, or spool.Memory for --no-spool
	Forwarder  *forward.Forwarder // the default route's handler; with Queue, required unless Routes are given
	Routes     []Route            // more handlers, by event type (the default route takes the types none of these takes)
	Events     []string           // only these event types are forwarded; empty: all
	CallStates []string           // only call events in these states are forwarded; empty: all
	// VerifySecret, when set, makes every frame prove it was signed with
	// it (HS256 JWT); others are never forwarded but kept as dead letters.
	VerifySecret string
	// KeepNonEvents keeps a frame that is not an event (neither a JSON
	// object nor a compact JWT) as a dead letter, replayable by id, where
	// it is otherwise only counted and logged. (With VerifySecret such a
	// frame is always kept, refused.)
	KeepNonEvents bool
	// ForwardNonEvents forwards a frame that is not an event as one of
	// unrecognised type (key otherKey), its bytes as they came, in case
	// Dialpad's frames have another form than the one inferred (a JWT in
	// JSON quotes, say). Not with KeepNonEvents; with VerifySecret such a
	// frame is still refused.
	ForwardNonEvents bool
	MaxAge           time.Duration // an event not delivered this long after it arrived is dead; default 24h

	Concurrency      int           // delivery workers, plus one per delivery waiting for a retry (pool.go); default 8
	HandshakeTimeout time.Duration // default 10s
	PingInterval     time.Duration // default 20s; must be less than PongWait/2
	PongWait         time.Duration // default 45s: no pong for this long ends the connection
	WriteWait        time.Duration // deadline for control frames; default 5s
	CloseWait        time.Duration // how long a closing connection may take to finish; default 5s
	MaxFrameBytes    int64         // default 8 MiB; a larger frame is read on but not kept (its event is lost, counted in Oversized)
	RotateBefore     time.Duration // reconnect this long before the token's exp; default 5m (capped at a quarter of the token's lifetime)
	HandoverWait     time.Duration // after a rotation the old connection stays open until the new one carries a frame, or this long; default 2s
	MaxConnLifetime  time.Duration // rotate this long after a connection opened when its token's exp is unreadable or later; default 55m
	BackoffMin       time.Duration // default 500ms
	BackoffMax       time.Duration // default 60s
	BackoffReset     time.Duration // a source connected this long (across rotations) resets the backoff; default 30s
	DedupeWindow     time.Duration // how long frames are remembered for duplicate checks; default 2m
	DedupeMax        int           // at most this many remembered frames; default 50000
	DrainTimeout     time.Duration // on shutdown, how long queued deliveries may still take; default 10s
	StatusInterval   time.Duration // how often a status line is logged; default 1m; negative: never
	Logger           *slog.Logger  // default: discard
	// DownSince is when an earlier run was last known to listen (its
	// spool's last sign of life), if known: each source's first connection
	// logs the window since then as a gap, as Dialpad replays nothing.
	DownSince time.Time
	// StopOn reports whether a failed fetch of a websocket_url stops the
	// agent rather than being retried with the backoff; default
	// StopOnStatuses(401, 403, 404).
	StopOn StopFunc
}

func (c *Config) fill() error {
	if len(c.Sources) == 0 {
		return errors.New("agent: no source to listen to")
	}
	for i, s := range c.Sources {
		if s.Fetch == nil || s.Name == "" {
			return fmt.Errorf("agent: source %d needs a Name and a Fetch func", i)
		}
	}
	if c.Forwarder != nil || c.Queue != nil {
		c.Routes = append([]Route{{Name: "default", Forwarder: c.Forwarder, Queue: c.Queue}}, c.Routes...)
	}
	if len(c.Routes) == 0 {
		return errors.New("agent: no handler: a Forwarder and Queue, or Routes, are required")
	}
	if c.KeepNonEvents && c.ForwardNonEvents {
		return errors.New("agent: KeepNonEvents and ForwardNonEvents exclude each other")
	}
	names := map[string]bool{}
	for _, r := range c.Routes {
		if names[r.Name] {
			return fmt.Errorf("agent: two routes named %q", r.Name)
		}
		names[r.Name] = true
		if r.Queue == nil || r.Forwarder == nil || r.Name == "" {
			return fmt.Errorf("agent: route %q: Queue and Forwarder are required (and a Name)", r.Name)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	def(&c.HandshakeTimeout, 10*time.Second)
	def(&c.PingInterval, 20*time.Second)
	def(&c.PongWait, 45*time.Second)
	def(&c.WriteWait, 5*time.Second)
	def(&c.CloseWait, 5*time.Second)
	def(&c.RotateBefore, 5*time.Minute)
	def(&c.HandoverWait, 2*time.Second)
	def(&c.MaxConnLifetime, 55*time.Minute)
	def(&c.BackoffMin, 500*time.Millisecond)
	def(&c.BackoffMax, 60*time.Second)
	def(&c.BackoffReset, 30*time.Second)
	def(&c.DedupeWindow, 2*time.Minute)
	def(&c.DrainTimeout, 10*time.Second)
	def(&c.MaxAge, 24*time.Hour)
	if c.StatusInterval == 0 {
		c.StatusInterval = time.Minute
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 8 << 20
	}
	if c.DedupeMax <= 0 {
		c.DedupeMax = 50000
	}
	// A replacement opens once a pong is PongWait/2 overdue (source.run):
	// a ping must be sent, and answered, within that, or every pong is
	// taken for a missing one.
	if 2*c.PingInterval >= c.PongWait {
		return fmt.Errorf("agent: ping interval %s must be less than half the pong wait %s", c.PingInterval, c.PongWait)
	}
	if c.BackoffMin > c.BackoffMax {
		return fmt.Errorf("agent: backoff min %s is above max %s", c.BackoffMin, c.BackoffMax)
	}
	if c.StopOn == nil {
		c.StopOn = StopOnStatuses(http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Route is one handler with its own queue and workers, so that a slow or
// dead handler delays no other.
type Route struct {
	Name      string             // for logs and the spool ("default", "call", …)
	Types     []string           // event types it takes; empty: those no other route takes
	Forwarder *forward.Forwarder // the handler
	Queue     Queue              // its queue
}

// takes reports whether the route is for events of type typ.
func (r *Route) takes(typ string) bool { return slices.Contains(r.Types, typ) }

// Queue is where accepted events wait for delivery: spool.Disk (durable)
// or spool.Memory. Append calls committed once the event is stored; Next
// hands out events whose key is free; every event handed out is ended with
// exactly one of Ack, Dead, Hold or Park, after any number of Tried (the
// attempts so far, kept for the next start). Hold (the agent is stopping)
// keeps the event's key busy for the rest of the run, so no later event of
// the key overtakes it. Park gives an event that waits for its retry back
// until the retry is due, its key busy meanwhile; Next hands it out again
// then, with Due set; Unpark puts paced ones back on their own due time.
// StopWaiting, called as the agent begins to stop (for any reason), makes
// a queue that is waiting for its store (a spool on a full disk) give up,
// so that no reader or worker stays blocked on it; Paused says how long it
// has been waiting so (0: not waiting), for the status line. (A bounded
// in-memory queue waits likewise for deliveries to make room.)
type Queue interface {
	Append(ev spool.Event, committed func(spool.Event)) error
	Next(ctx context.Context) (spool.Event, error)
	Ack(ev spool.Event, attempts []spool.Attempt)
	Dead(ev spool.Event, reason string, attempts []spool.Attempt)
	Hold(ev spool.Event)
	Tried(ev spool.Event, attempts []spool.Attempt)
	Park(ev spool.Event, attempts []spool.Attempt, p spool.Parking) error
	Unpark()
	Share(n int)
	Waits(ev spool.Event)
	Reject(ev spool.Event, reason string, replayable bool) error
	Len() int
	Close()
	StopWaiting()
	Paused() time.Duration
	Durable() bool
	OnDisk(ev spool.Event) bool
}

// Agent listens to its sources and delivers their events.
type Agent struct {
	cfg       Config
	log       *slog.Logger
	dedupe    *dedupe
	stats     counters
	live      atomic.Int32 // open connections across all sources
	unlinked  atomic.Int32 // sources with no active connection: in a gap, or not connected yet
	acceptMu  sync.Mutex   // held by accept from a duplicate check to the queueing, while frames are checked
	connected chan struct{}
	connOnce  sync.Once
	stored    func(spool.Event) // a.storedEvent as a func value, made once
	// unknownFiltered: an event whose type classify could not tell was
	// filtered out by Events, and a warning said so (once per run).
	unknownFiltered atomic.Bool
	// nonEventForwarded: a frame that is not an event was forwarded
	// (ForwardNonEvents), and a warning said so (once per run).
	nonEventForwarded atomic.Bool
}

// New validates cfg and returns an Agent ready to Run.
func New(cfg Config) (*Agent, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:       cfg,
		log:       cfg.Logger,
		dedupe:    newDedupe(cfg.DedupeWindow, cfg.DedupeMax),
		connected: make(chan struct{}),
	}
	a.unlinked.Store(int32(len(cfg.Sources)))
	// Copies of one event reach two connections only while both are open:
	// from the dial to the end of the handover.
	a.dedupe.armFor = cfg.HandshakeTimeout + cfg.HandoverWait + cfg.CloseWait
	a.stored = a.storedEvent
	return a, nil
}

// Connected is closed once the first connection of any source is open.
func (a *Agent) Connected() <-chan struct{} { return a.connected }

func (a *Agent) markConnected() { a.connOnce.Do(func() { close(a.connected) }) }

// Run listens until ctx is done or a source fails permanently (bad API key,
// unknown websocket), then stops reading, closes the connections politely,
// lets queued deliveries finish for up to DrainTimeout and returns. It
// starts one goroutine per source (source.run), Concurrency delivery
// workers per route and one status reporter; all have ended when Run
// returns.
func (a *Agent) Run(ctx context.Context) error {
	deliverCtx, cancelDeliver := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelDeliver()
	// Once the agent is asked to stop (or its sources have), no delivery
	// starts a retry: attempts in flight may finish within DrainTimeout,
	// the rest stay queued.
	draining, startDrain := context.WithCancel(context.Background())
	defer startDrain()
	var workers sync.WaitGroup
	for i := range a.cfg.Routes {
		p := &pool{a: a, r: &a.cfg.Routes[i], ctx: deliverCtx, draining: draining, wg: &workers, base: int64(a.cfg.Concurrency)}
		// A type whose events hold every other worker (or wait for retries)
		// yields the free one to the others: the worker asking is not busy.
		p.r.Queue.Share(max(a.cfg.Concurrency-1, 1))
		for range a.cfg.Concurrency {
			p.start()
		}
	}
	stopLogged := make(chan struct{})
	stopping := context.AfterFunc(ctx, func() {
		defer close(stopLogged)
		a.log.Info("stopping: reading no more events; deliveries in flight may finish, no retry starts",
			"drain_timeout", a.cfg.DrainTimeout.String())
		startDrain()
	})
	defer stopping()

	srcCtx, cancelSources := context.WithCancel(ctx)
	defer cancelSources()
	// Stopping, asked or not (a source failed): readers blocked on a queue
	// that waits for disk space must be let go.
	stopWaiting := context.AfterFunc(srcCtx, func() {
		for _, r := range a.cfg.Routes {
			r.Queue.StopWaiting()
		}
	})
	defer stopWaiting()
	var sources sync.WaitGroup
	errs := make(chan error, len(a.cfg.Sources))
	for _, src := range a.cfg.Sources {
		s := &source{src: src, cfg: a.cfg, log: a.log, agent: a, ended: make(chan *conn), dialed: make(chan dialResult)}
		sources.Add(1)
		go func() {
			defer sources.Done()
			if err := s.run(srcCtx); err != nil {
				errs <- fmt.Errorf("%s: %w", src.Name, err)
				cancelSources()
			}
		}()
	}
	statusDone := make(chan struct{})
	go func() {
		defer close(statusDone)
		a.reportStatus(srcCtx)
	}()
	sources.Wait()
	cancelSources()
	<-statusDone
	close(errs)
	if ctx.Err() != nil && !stopping() {
		<-stopLogged // the stopping line comes before every later one
	}

	startDrain()
	for _, r := range a.cfg.Routes {
		r.Queue.Close()
	}
	drained := make(chan struct{})
	go func() {
		workers.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(a.cfg.DrainTimeout):
		a.log.Warn("drain timeout reached; cancelling deliveries in flight", "drain_timeout", a.cfg.DrainTimeout.String())
		cancelDeliver()
		<-drained
	}
	// What a durable queue keeps for the next start is its owner's to
	// tell, once its last writes are done (listen does).
	for _, r := range a.cfg.Routes {
		if !r.Queue.Durable() {
			a.stats.abandoned.Add(int64(r.Queue.Len()))
		}
	}
	// Those Append refused were logged one by one, and are not left in
	// memory: with a spool that could not be written, there is none.
	if lost := a.stats.abandoned.Load() - a.stats.unqueued.Load(); lost > 0 {
		a.log.Error("events left undelivered at shutdown (in-memory queue: they are lost)", "count", lost)
	}
	return <-errs
}

// accept handles one frame from a reader goroutine: classify, drop
// duplicates, append to the queue. It never blocks on delivery.
func (a *Agent) accept(c *conn, src *Source, data []byte) {
	now := time.Now()
	f, err := classifyWith(&c.parser, data, src.Type)
	var nonEvent error // why a frame forwarded all the same is not an event
	if err != nil && a.cfg.VerifySecret != "" {
		// Every frame must be a signed event: one that is not even an
		// event is refused, and kept as a dead letter, as a forged one is.
		a.reject(spool.Event{ID: newDeliveryID(), JWT: f.jwt, Body: data, Source: c.name, Received: now},
			"frame refused: not an event, so not a signed one; not forwarded", err.Error())
		return
	}
	if err != nil && a.cfg.ForwardNonEvents {
		// Forwarded as an event of no known type, on its lane: what the
		// agent takes for an event's form is inferred, not documented.
		// Said forwarded once queued: --events may filter it out yet.
		// Counted here, in invalid, and only here: left out by a filter
		// or the routes, it is skipped (skipNonEvent), not filtered.
		a.stats.invalid.Add(1)
		nonEvent = err
		f, err = frame{jwt: f.jwt, typ: src.Type, key: otherKey(src.Type)}, nil
	}
	if err != nil {
		a.stats.invalid.Add(1)
		if a.cfg.KeepNonEvents {
			// Kept once, as an event is, when two connections overlap.
			if overlapping := a.overlapping(c, now); a.dedupe.duplicateSince(data, c.id, c.dialed, now, overlapping) {
				a.stats.duplicates.Add(1)
				a.log.Debug("duplicate frame dropped", "conn", c.name, "bytes", len(data))
				return
			}
			// Typed and keyed as an unrecognised event of its connection,
			// should it be replayed.
			a.keepNonEvent(spool.Event{ID: newDeliveryID(), Key: otherKey(src.Type), Type: src.Type, JWT: f.jwt, Body: data,
				Source: c.name, Received: now}, err.Error())
			return
		}
		a.log.Warn("frame skipped", "conn", c.name, "reason", err.Error(), "bytes", len(data))
		return
	}
	if !a.wanted(f) {
		if nonEvent != nil {
			a.skipNonEvent(c, nonEvent, data, "--events or --call-states leaves it out")
			return
		}
		a.stats.filtered.Add(1)
		// A websocket's events carry no type: it is guessed from their
		// fields (eventType), which Dialpad does not document. One that
		// matches none may be of a wanted type all the same: say so once,
		// not only at debug level, so the loss is not silent.
		if f.typ == "" && a.unknownFiltered.CompareAndSwap(false, true) {
			a.log.Warn(unknownFilteredMsg, "conn", c.name, "key", f.key, "bytes", len(data),
				"hint", "further ones are logged at debug level and counted in filtered=; if Dialpad's fields differ from those the type is told by, listen with --subscription TYPE:ID, whose events have the subscription's type")
		}
		a.log.Debug("event filtered out", "type", f.typ, "detail", f.detail, "key", f.key)
		return
	}
	ev := spool.Event{
		ID: newDeliveryID(), Key: f.key, Type: f.typ, Detail: f.detail, JWT: f.jwt, Body: data, Source: c.name, Received: now,
	}
	if a.cfg.VerifySecret != "" {
		if err := a.verify(f, data); err != nil {
			a.reject(ev, "frame refused: signature check failed; not forwarded", err.Error())
			return
		}
	}
	// After the signature check: a forged copy must not make the genuine
	// frame look like a duplicate. Whether the frame is checked is decided
	// once, here: the lock, the identity it is remembered by and the check
	// all follow that one decision. (Checks armed meanwhile, for a
	// connection about to be dialled, concern no frame that arrived
	// before: its server could not have sent this one to it. Asked again,
	// the check could remember a JWT by its bytes, where its copy would be
	// looked up by its claims.)
	overlapping := a.overlapping(c, now)
	if a.dedupe.checking(now, overlapping) {
		// While frames are checked, the check and the queueing are one
		// step: else another connection's copy of this key's next event
		// could be queued between them, ahead of this one.
		a.acceptMu.Lock()
		defer a.acceptMu.Unlock()
		identity := data
		if f.jwt {
			identity = claimsIdentity(data)
		}
		if a.dedupe.duplicateSince(identity, c.id, c.dialed, now, true) {
			a.stats.duplicates.Add(1)
			a.log.Debug("duplicate frame dropped", "conn", c.name, "type", f.typ, "key", f.key)
			return
		}
	}
	routed, queued := false, false
	stored := a.stored
	if a.multiRouted(f.typ) {
		// Each route stores its own copy: the event counts as received
		// once, when the first copy is stored.
		var once atomic.Bool
		stored = func(ev spool.Event) { a.storedCopy(ev, once.CompareAndSwap(false, true)) }
	}
	for i := range a.cfg.Routes {
		r := &a.cfg.Routes[i]
		if !a.routes(r, f.typ) {
			continue
		}
		routed = true
		ev.Target = r.Name
		if err := r.Queue.Append(ev, stored); err != nil {
			a.stats.abandoned.Add(1)
			a.stats.unqueued.Add(1)
			a.log.Error("event could not be queued and is lost", "conn", c.name, "route", r.Name, "type", f.typ, "key", f.key, "reason", err.Error())
			continue
		}
		queued = true
	}
	if !routed {
		if nonEvent != nil {
			a.skipNonEvent(c, nonEvent, data, "no route takes it")
			return
		}
		a.stats.filtered.Add(1)
		a.log.Warn("no handler takes this event type; not forwarded (add --forward-to or --route)", "type", f.typ, "key", f.key)
		return
	}
	if !queued {
		return
	}
	// A queue (or another reader) held this one up while another
	// connection is open: that one's copies may wait unread meanwhile.
	// (Not with one connection: a burst that fills the spool's queue would
	// otherwise be hashed and remembered whole.)
	if overlapping {
		if t := time.Now(); t.Sub(now) >= heldUp {
			a.dedupe.held(t)
		}
	}
	if nonEvent != nil {
		if a.nonEventForwarded.CompareAndSwap(false, true) {
			a.log.Warn(nonEventForwardedMsg, "conn", c.name, "reason", nonEvent.Error(), "bytes", len(data),
				"hint", "further ones are logged at debug level and counted in invalid_frames=")
		} else {
			a.log.Debug("frame not an event; forwarded as it came", "conn", c.name, "reason", nonEvent.Error(), "bytes", len(data))
		}
	}
	if a.log.Enabled(context.Background(), slog.LevelInfo) {
		// Not yet "received": that is once it is stored (storedEvent).
		// Attrs, not key-value pairs: each string passed as an any takes
		// an allocation, six for every event.
		a.log.LogAttrs(context.Background(), slog.LevelInfo, "event arrived", slog.String("type", f.typ), slog.String("detail", f.detail),
			slog.String("key", f.key), slog.String("id", ev.ID), slog.String("form", form(ev)), slog.String("conn", c.name))
	}
}

// skipNonEvent logs a frame that is not an event, forwarded all the same
// (ForwardNonEvents), that the filters or the routes leave out: it is
// skipped as it would be without ForwardNonEvents, and counted once, in
// invalid (as it already is), not in filtered too. why says what left it
// out.
func (a *Agent) skipNonEvent(c *conn, nonEvent error, data []byte, why string) {
	a.log.Warn("frame skipped", "conn", c.name, "reason", nonEvent.Error()+"; not forwarded: "+why, "bytes", len(data))
}

// wanted applies the Events and CallStates filters ("all" among the call
// states means every state, as in Dialpad's call_states).
func (a *Agent) wanted(f frame) bool {
	if len(a.cfg.Events) > 0 && !slices.Contains(a.cfg.Events, f.typ) {
		return false
	}
	states := a.cfg.CallStates
	return f.typ != "call" || len(states) == 0 || slices.Contains(states, "all") || slices.Contains(states, f.detail)
}

// routes reports whether route r takes events of type typ: a typed route
// takes its types; an untyped one the types no typed route takes.
func (a *Agent) routes(r *Route, typ string) bool {
	if len(r.Types) > 0 {
		return r.takes(typ)
	}
	for i := range a.cfg.Routes {
		if a.cfg.Routes[i].takes(typ) {
			return false
		}
	}
	return true
}

// nonEventForwardedMsg is the warning for the first frame that is not an
// event forwarded all the same (ForwardNonEvents).
const nonEventForwardedMsg = "a frame that is not an event (neither a JSON object nor a compact JWT) is forwarded as it came (--non-event-frames forward)"

// unknownFilteredMsg is the warning for the first event of a type not
// recognised that Events filtered out.
const unknownFilteredMsg = "an event whose type could not be recognised was filtered out by --events, and is lost"

// verify checks a frame's signature against VerifySecret.
func (a *Agent) verify(f frame, data []byte) error {
	if !f.jwt {
		return errors.New("unsigned JSON frame while --verify-secret is set")
	}
	return signing.VerifyHS256(data, a.cfg.VerifySecret)
}

// overlapping reports whether another connection is open beside c, whose
// copies of c's frames are then checked for (dedupe) in any case. Run by
// c's reader, for a frame that arrived at now.
func (a *Agent) overlapping(c *conn, now time.Time) bool {
	if c.waitedOlder {
		// Its frames waited for older connections to end, which may have
		// taken longer than the checks stay armed: the copies of what they
		// carried come now.
		c.waitedOlder = false
		a.dedupe.held(now)
	}
	return a.live.Load() > 1
}

// reject keeps a frame that failed verification as a dead letter of the
// first route; it is never forwarded.
func (a *Agent) reject(ev spool.Event, msg, reason string) {
	a.stats.rejected.Add(1)
	r := &a.cfg.Routes[0]
	ev.Target = r.Name
	if err := r.Queue.Reject(ev, reason, false); err != nil {
		a.stats.abandoned.Add(1)
		a.stats.unqueued.Add(1)
		a.log.Error(msg+"; it could not be kept as a dead letter and is lost", "type", ev.Type, "key", ev.Key, "id", ev.ID,
			"reason", reason, "error", err.Error(), "conn", ev.Source)
		return
	}
	a.log.Error(msg, "type", ev.Type, "key", ev.Key, "id", ev.ID,
		"reason", reason, "dead_letter", r.Queue.Durable(), "conn", ev.Source)
}

// keepNonEvent keeps a frame that is not an event as a dead letter of the
// default route (KeepNonEvents): not forwarded, but there to be read
// (events show) and, if it was one after all, replayed by id.
func (a *Agent) keepNonEvent(ev spool.Event, reason string) {
	r := &a.cfg.Routes[0]
	ev.Target = r.Name
	if err := r.Queue.Reject(ev, reason+"; kept, not forwarded", true); err != nil {
		a.stats.abandoned.Add(1)
		a.stats.unqueued.Add(1)
		a.log.Error("frame could not be kept as a dead letter and is lost", "conn", ev.Source, "id", ev.ID, "reason", reason,
			"bytes", len(ev.Body), "error", err.Error())
		return
	}
	a.log.Warn("frame kept as a dead letter, not forwarded", "conn", ev.Source, "id", ev.ID, "reason", reason,
		"bytes", len(ev.Body), "dead_letter", r.Queue.Durable())
}

// storedEvent runs once an accepted event is in the queue (synced to disk
// with the durable spool): only now does it count as received. Delivery
// may already be under way.
func (a *Agent) storedEvent(ev spool.Event) { a.storedCopy(ev, true) }

// storedCopy runs once one route's copy of an accepted event is stored;
// first: it is the event's first copy stored, which counts it as
// received (once, however many routes take it).
func (a *Agent) storedCopy(ev spool.Event, first bool) {
	if first {
		a.stats.received.Add(1)
	}
	if a.log.Enabled(context.Background(), slog.LevelDebug) {
		a.log.Debug("event stored", "id", ev.ID, "seq", ev.Seq)
	}
}

// multiRouted reports whether more than one route takes events of type
// typ.
func (a *Agent) multiRouted(typ string) bool {
	n := 0
	for i := range a.cfg.Routes {
		if a.routes(&a.cfg.Routes[i], typ) {
			n++
		}
	}
	return n > 1
}

// form is how an event's arrival line names its form: jwt, json, or raw
// for a frame forwarded although neither (as the events commands say).
func form(ev spool.Event) string {
	switch {
	case ev.JWT:
		return "jwt"
	case ev.Raw():
		return "raw"
	}
	return "json"
}
