package spool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DiskConfig configures a Disk spool; zero values get the defaults named.
type DiskConfig struct {
	Path       string        // required: the spool file, created with mode 0600
	KeepCount  int           // delivered events kept for inspection and replay; default 1000; negative keeps none
	KeepAge    time.Duration // and for at most this long; default 24h
	CacheBytes int64         // bodies of pending events kept in memory up to this total; default 512 KiB; the rest is read back from disk
	MaxBatch   int           // most operations committed in one write; default 256
	// CommitInterval is the least time between two commits while events
	// keep coming (at low rates every event is committed at once); default 10ms.
	CommitInterval time.Duration
	LockTimeout    time.Duration // how long to wait for another process holding the file; default 1s
	Heartbeat      time.Duration // how often an idle spool sets its file's modification time (see LastRun); default 1m
	// CompactAfter is how much garbage (frames that later ones superseded)
	// the file may hold before it is rewritten with its live frames only;
	// it is rewritten only when the garbage also outweighs the live frames.
	// Default 32 MiB. Where the disk has less room left than the garbage
	// (a small volume), from spaceCompactMin of garbage on.
	CompactAfter int64
	// Logger gets a warning when a start cuts off a torn write and when a
	// compaction fails (the spool goes on without it); nil discards.
	Logger *slog.Logger

	compactGate chan struct{}              // tests: see copyLive
	diskFree    func(string) (int64, bool) // tests: the disk's free space; default diskFree
	syncDir     func(string) error         // tests: syncs a folder; default syncDir
	// readRetry is the wait before an event whose body could not be read
	// back is read again, doubling up to 64 times it; default 1s (tests:
	// shorter).
	readRetry time.Duration
}

func (c *DiskConfig) fill() error {
	if c.Path == "" {
		return errors.New("spool: no path")
	}
	if c.KeepCount == 0 {
		c.KeepCount = 1000
	}
	if c.KeepAge <= 0 {
		c.KeepAge = 24 * time.Hour
	}
	if c.CacheBytes <= 0 {
		c.CacheBytes = 512 << 10
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 256
	}
	if c.CommitInterval <= 0 {
		c.CommitInterval = 10 * time.Millisecond
	}
	if c.CompactAfter <= 0 {
		c.CompactAfter = 32 << 20
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = time.Minute
	}
	if c.LockTimeout <= 0 {
		c.LockTimeout = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.diskFree == nil {
		c.diskFree = diskFree
	}
	if c.readRetry <= 0 {
		c.readRetry = time.Second
	}
	return nil
}

// Disk is the durable queue: every appended event is written to the spool
// file (a log of frames, see frame.go) and synced (committed callback), and
// stops being pending only when it is acknowledged (delivered) or declared
// dead. A restart hands out again whatever was pending. Writes are
// group-committed by Run, so a burst pays one write and one sync per batch,
// not per event; reads of bodies not kept in memory are positioned reads of
// the file, so nothing of it is mapped into the process.
//
// An event may be handed out while its sync is still under way: delivery
// and sync overlap, so the sync's latency is not added to every event.
// This loses nothing: a crash before the sync finds the event either
// delivered or never stored (and never reported as received). Pending
// bodies beyond CacheBytes are not kept in memory but read back from disk
// once synced, so memory stays flat while a handler is down.
type Disk struct {
	cfg        DiskConfig
	idx        *index
	ops        chan op
	stopped    chan struct{} // closed when Run returns (or a write failed); later writes are refused
	stopOnce   sync.Once     // closes stopped
	giveUp     chan struct{} // closed by StopWaiting: a failed write is not tried again
	giveUpOnce sync.Once
	pausedAt   atomic.Int64 // while a write fails for want of space: since when, Unix nanoseconds; else 0
	pauseMu    sync.Mutex
	pauseSig   chan struct{} // closed as writes begin to fail for want of space; a fresh one once they go through
	failingAt  atomic.Int64  // while a failed write waits to be tried again (see writeBatch): since when; else 0
	failSig    chan struct{} // closed as failingAt is set; a fresh one once it is cleared (guarded by pauseMu)
	cached     atomic.Int64  // bytes of pending bodies held in memory
	closedAt   atomic.Int64  // when Close was first called, Unix nanoseconds; else 0

	appendMu sync.Mutex // orders Append: seq, index and ops channel agree
	seq      uint64     // last seq given out; guarded by appendMu

	durableMu sync.Mutex
	durable   uint64               // every seq up to this one is on disk
	synced    chan struct{}        // closed and replaced when durable grows or held changes
	held      map[uint64]Event     // while short of space: new events not written yet (see hold)
	heldN     atomic.Int32         // len(held), for Append to look at without the lock
	tried     map[uint64][]Attempt // attempts not written for want of space (see keepTried)

	fileMu  sync.Mutex       // guards f, places and readEnd; Run changes them, Next reads
	f       *os.File         // the spool file, locked; replaced by compaction
	places  map[uint64]place // every live record's frames
	letters atomic.Int64     // dead letters in places, for DeadLetters
	readEnd int64            // the end of f's last finished write: below it f never changes
	ahead   readAhead        // the blocks of the file last read back by Next

	readFailsMu sync.Mutex
	readFails   map[uint64]readFail // pending events whose body could not be read back

	// Owned by Run.
	end           int64            // where the next frame goes
	live          int64            // bytes of live frames
	dead          int64            // bytes of dead letters' live frames, among them (see commit's room)
	delivered     fifo[finishedAt] // the delivered history, oldest first
	agedAt        time.Time        // last age check of the delivered history
	buf           []byte           // the batch being encoded
	taken         uint64           // the highest seq of an append taken into a batch
	compactAfter  int64            // garbage that triggers a compaction: CompactAfter, more after a failure
	compacting    *compaction      // the compaction under way, if any
	freeAt        int64            // the file's end when the disk's free space was last looked at (see room)
	freeSeen      int64            // the free space then
	freeOK        bool             // and whether it was known
	freeLooked    bool             // it was looked at
	lastRun       time.Time        // the file's modification time when opened (see LastRun)
	closing       sync.WaitGroup   // the file a compaction replaced, being closed
	forgets       []uint64         // records the batch forgets
	pathLostAt    time.Time        // since when the path has not named f (see checkPath); zero while it does
	pathChecked   time.Time        // when checkPath last ran
	pathTaken     bool             // the path names another file (checkPath): no compaction may take it
	lost          bool             // Run ended with the path not naming the file (see AtPath)
	link          string           // the path as given, when it is a symbolic link to Path (checkPath)
	dirUnsynced   bool             // a compaction's rename is not synced yet: the next commit syncs the folder first
	fresh         bool             // the file was new (or empty) when opened
	discard       atomic.Bool      // DiscardIfUnused was called
	removeClosed  bool             // the unused file is removed once closed (Windows; see removeUnused)
	short         bool             // short of space (see short.go)
	reserved      bool             // the reserve is made (see makeReserve)
	compactFailed time.Time        // when a compaction last failed (see compactShort)
	deadWarned    bool             // warnDeadStuck said the dead letters keep the spool short of space
}

// opKind says what an op does.
type opKind uint8

const (
	opAppend opKind = iota
	opAck
	opDead
	opReject // an event refused on arrival: dead at once, never replayed
	opDOA    // a frame kept dead on arrival (not an event): replayable
	opTried
	opPark    // opTried, then the event waits in the index until park is due
	opReplay  // a dead or delivered record written again as pending (ReplayLive)
	opBarrier // writes nothing: its committed call says that every op before it is on disk
	opPurge   // forgets dead or delivered records (PurgeLive)
)

// op is one write waiting for the committer.
type op struct {
	kind      opKind
	ev        Event
	committed func(Event) // opAppend, opReplay, opBarrier, opPurge: called after the sync
	attempts  []Attempt
	reason    string
	at        time.Time
	park      *Parking // opPark
	admin     *adminOp // opReplay, opPurge (rare: one pointer keeps op small for the rest)
}

// adminOp is what an opReplay or opPurge carries.
type adminOp struct {
	rec      *Record  // opReplay: the record, with its new seq
	replaces uint64   // opReplay: the record's old seq
	purge    []uint64 // opPurge: the records to forget
	history  bool     // opPurge: the delivered history goes too
	dead     bool     // opPurge: dead letters go, those held in memory too (purgeHeld)
	held     int      // opPurge: how many dead letters held in memory went; set by Run
}

// OpenDisk opens (or creates) the spool file, takes its lock and loads its
// pending events. A file that is not a spool or is damaged gives an error
// naming it; the file is left as it is. So does a name too long for the
// work files next to it (see checkName), before anything is created.
func OpenDisk(cfg DiskConfig) (*Disk, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	given, missing := cfg.Path, ""
	if err := checkLinks(given); err != nil {
		return nil, err
	}
	cfg.Path, missing = followLinks(cfg.Path)
	if err := checkName(cfg.Path); err != nil {
		return nil, err
	}
	if err := CheckMake(cfg.Path); err != nil { // root in a service's folder
		return nil, err
	}
	f, err := openLocked(cfg.Path, true, cfg.LockTimeout) // another user's file refused there (checkOwner)
	if err != nil {
		// followLinks left a link into a missing folder as it is: say so,
		// as setup does for its state file, not just "no such file" of
		// a link that ls shows, naming the target whose folder is missing
		// (the first link's may be another link, in a folder that is there).
		if missing != "" && errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("spool: %s: is a symbolic link to %s, whose folder is not there (a disk not mounted?): create the folder, or fix the link", cfg.Path, missing)
		}
		return nil, err
	}
	d := &Disk{cfg: cfg, f: f, idx: newIndex(), ops: make(chan op, 1024), stopped: make(chan struct{}), giveUp: make(chan struct{}), synced: make(chan struct{}), pauseSig: make(chan struct{}), failSig: make(chan struct{})}
	d.idx.stopOnClose = true
	d.compactAfter = cfg.CompactAfter
	if given != cfg.Path {
		d.link = given
	}
	if err := d.load(); err != nil {
		f.Close()
		return nil, err
	}
	return d, nil
}

// load reads the file into places and puts every pending record into the
// index, in arrival order. A new file gets its header; a torn tail (a
// write cut by a crash before its sync) is cut off; a compaction cut by
// one is removed; delivered records beyond KeepCount are forgotten.
func (d *Disk) load() error {
	path := d.cfg.Path
	fi, err := d.f.Stat()
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if fi.Size() > 0 {
		d.lastRun = fi.ModTime()
	}
	if fi.Size() == 0 {
		d.fresh = true
		if err := initFile(d.f, path); err != nil {
			return fmt.Errorf("spool: %s: %w", path, err)
		}
	}
	os.Remove(path + compactSuffix)
	b, end, err := readBook(d.f)
	if err != nil {
		return notSpool(path, err)
	}
	if err := raiseVersion(d.f); err != nil {
		return fmt.Errorf("spool: %s: %w", path, err)
	}
	if end < fi.Size() {
		d.cfg.Logger.Warn("spool: cutting off an unfinished write at the end of the file: a crash or a failed write (a full disk) came before its sync, so none of its events was counted as received",
			"spool", path, "offset", end, "bytes", fi.Size()-end)
		if err := d.f.Truncate(end); err != nil {
			return fmt.Errorf("spool: %s: cut the torn tail: %w", path, err)
		}
		// Synced before a batch is written where the tail was: else a
		// crash could bring back its bytes after that batch's end, and
		// the next start would take them for damage (see tornOrDamaged).
		if err := datasync(d.f); err != nil {
			return fmt.Errorf("spool: %s: cut the torn tail: %w", path, err)
		}
	}
	var letters int64
	d.live, d.dead, letters = b.live()
	d.letters.Store(letters)
	d.places, d.end = b.places, end
	d.readEnd = end
	d.seq = b.maxSeq
	d.durable, d.taken = d.seq, d.seq
	for _, fa := range b.delivered {
		if p, ok := b.places[fa.seq]; ok && p.state() == Delivered {
			d.delivered.push(fa)
		}
	}
	for _, seq := range b.seqs(Pending) {
		if _, err := d.idx.add(Event{Seq: seq, Key: b.keys[seq], stored: true}); err != nil {
			return err
		}
	}
	if d.delivered.len() > max(d.cfg.KeepCount, 0) {
		// KeepCount was lowered since the history was written: forget the
		// oldest beyond it now, not at the next delivery. An empty batch,
		// as Run commits when the history ages, writes only prune's
		// forget frame, synced.
		if _, err := d.commit(noRetry, nil, false, nil); err != nil {
			return err
		}
	}
	return nil
}

// cache keeps ev's body in memory while the budget allows; otherwise it
// drops it, to be read back by Next.
func (d *Disk) cache(ev Event) Event {
	if d.cached.Load()+int64(len(ev.Body)) > d.cfg.CacheBytes {
		// Only what ordering needs stays in memory; Next reads the rest.
		return Event{Seq: ev.Seq, Key: ev.Key, stored: true}
	}
	d.cached.Add(int64(len(ev.Body)))
	return ev
}

// uncache returns ev's body to the budget if it was held in memory.
func (d *Disk) uncache(ev Event) {
	if !ev.stored {
		d.cached.Add(-int64(len(ev.Body)))
	}
}

// Append gives ev the next seq, makes it available to Next and queues it
// for the next group commit; committed is called with ev once it is synced
// to disk, on Run's goroutine. It blocks only when the commit queue is full.
func (d *Disk) Append(ev Event, committed func(Event)) error {
	d.appendMu.Lock()
	defer d.appendMu.Unlock()
	if d.idx.isClosed() {
		return ErrClosed
	}
	if err := d.waitRoom(); err != nil {
		return err
	}
	d.seq++
	ev.Seq = d.seq
	// The commit queue first, then the index: an Ack or Dead of this event
	// (possible as soon as it is in the index) is queued after its append.
	if err := d.send(op{kind: opAppend, ev: ev, committed: committed, at: time.Now()}); err != nil {
		d.seq--
		return err
	}
	d.idx.add(d.cache(ev)) // closed meanwhile: it is queued for disk, delivered at the next start
	return nil
}

// send queues o for Run, or refuses it once Run has returned (checked
// first, so that nothing is queued that no Run will write).
func (d *Disk) send(o op) error {
	select {
	case <-d.stopped:
		return ErrClosed
	default:
	}
	select {
	case d.ops <- o:
		return nil
	case <-d.stopped:
		return ErrClosed
	}
}

// Next blocks until an event whose key is free can be handed out, reading
// its body back from disk (once synced) if it was not kept in memory.
// After Close it hands out nothing more: what is pending stays on disk.
func (d *Disk) Next(ctx context.Context) (Event, error) {
	ev, err := d.idx.next(ctx)
	if err != nil || !ev.stored {
		return ev, err
	}
	held, err := d.waitDurable(ctx, ev.Seq)
	if err != nil {
		// Not handed out: still pending, first of its key, for the next
		// start, and still counted by Len. The key stays busy: no later
		// event of it may overtake it.
		d.idx.holdPending(ev)
		return Event{}, err
	}
	if held != nil { // short of space: not written yet, handed out from memory
		held.stored, held.Due = true, ev.Due
		return *held, nil
	}
	r, err := d.read(ev.Seq)
	if err != nil {
		if errors.Is(err, ErrClosed) {
			d.idx.holdPending(ev)
			return Event{}, err
		}
		// Parked, to be read again after a backoff: the key stays busy,
		// so no later event of it overtakes this one, and takes no
		// worker meanwhile.
		wait := d.readFailed(ev)
		d.idx.park(newEntry(ev), Parking{Due: time.Now().Add(wait)})
		return Event{}, &ReadError{Path: d.cfg.Path, Key: ev.Key, Retry: wait, Err: err}
	}
	r.Event.stored, r.Event.Due = true, d.readOK(ev)
	if a, ok := d.unsaved(ev.Seq); ok {
		r.Event.Tried = a
	}
	return r.Event, nil
}

// readFail is what a pending event whose body could not be read back keeps
// until it is read: the failures so far, and the Due it was handed out
// with at the first one (zero: its retry wait follows from its attempts),
// which the parking for the read's retry must not replace.
type readFail struct {
	n   int
	due time.Time
}

// readFailed counts a failed read of pending event ev and returns the
// wait before it is read again: readRetry, doubling up to 64 times it.
func (d *Disk) readFailed(ev Event) time.Duration {
	d.readFailsMu.Lock()
	defer d.readFailsMu.Unlock()
	if d.readFails == nil {
		d.readFails = make(map[uint64]readFail)
	}
	f, ok := d.readFails[ev.Seq]
	if !ok {
		f.due = ev.Due
	}
	wait := d.cfg.readRetry << min(f.n, 6)
	f.n++
	d.readFails[ev.Seq] = f
	return wait
}

// readOK forgets the failed reads of ev, read back now, and returns the
// Due it is handed out with: its own, from before the first failed read.
func (d *Disk) readOK(ev Event) time.Time {
	d.readFailsMu.Lock()
	defer d.readFailsMu.Unlock()
	f, ok := d.readFails[ev.Seq]
	if !ok {
		return ev.Due
	}
	delete(d.readFails, ev.Seq)
	return f.due
}

// ReadError is a pending event whose body could not be read back from the
// spool file. The event stays pending, first of its key, and is read
// again after Retry.
type ReadError struct {
	Path  string
	Key   string // its ordering key
	Retry time.Duration
	Err   error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("spool: %s: a pending event of key %s could not be read back: %v; it stays pending, first of its key, and is read again in %s (if this goes on, stop listen and run events salvage on the file)",
		e.Path, e.Key, e.Err, e.Retry)
}

func (e *ReadError) Unwrap() error { return e.Err }

// read reads the pending record seq back from the file. Compaction may
// swap the file meanwhile: a read of the old one, closed, is tried again
// on the new one. Once Run has stopped (and closed the file) it fails.
func (d *Disk) read(seq uint64) (Record, error) {
	var tried *os.File
	for {
		d.fileMu.Lock()
		f, end := d.f, d.readEnd
		p, ok := d.places[seq]
		d.fileMu.Unlock()
		if !ok {
			return Record{}, fmt.Errorf("spool: %s: pending event %d vanished", d.cfg.Path, seq)
		}
		if f == tried {
			return Record{}, ErrClosed // not swapped: closed for good
		}
		r, err := decodeRecord(func(s span) ([]byte, error) { return d.ahead.frame(f, s, end) }, seq, p)
		if errors.Is(err, os.ErrClosed) {
			tried = f
			continue
		}
		if err != nil {
			return Record{}, fmt.Errorf("spool: %s: %w", d.cfg.Path, err)
		}
		return r, nil
	}
}

// waitDurable blocks until seq is on disk, or held in memory while the
// spool is short of space: then it returns the event.
func (d *Disk) waitDurable(ctx context.Context, seq uint64) (*Event, error) {
	for {
		select {
		case <-d.stopped:
			return nil, ErrClosed
		default:
		}
		d.durableMu.Lock()
		ok, synced := d.durable >= seq, d.synced
		var held *Event
		if ev, isHeld := d.held[seq]; isHeld && !ok {
			// Copied here: a variable whose address is returned is
			// allocated where it is declared, and this one was on every
			// call, for an event that is nearly never held.
			h := ev
			held = &h
		}
		d.durableMu.Unlock()
		if ok {
			return nil, nil
		}
		if held != nil {
			return held, nil
		}
		select {
		case <-synced:
		case <-d.stopped:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// OnDisk reports whether ev's record is on disk (synced): an event handed
// out from memory may not be yet, and is lost if the spool cannot write
// it (a full disk at the stop).
func (d *Disk) OnDisk(ev Event) bool {
	d.durableMu.Lock()
	defer d.durableMu.Unlock()
	return ev.Seq <= d.durable
}

// markDurable records that every seq up to seq is on disk.
func (d *Disk) markDurable(seq uint64) {
	d.durableMu.Lock()
	defer d.durableMu.Unlock()
	if seq > d.durable {
		d.durable = seq
		close(d.synced)
		d.synced = make(chan struct{})
	}
}

// Ack records that ev was delivered: its key is released at once, and the
// record moves to the delivered history in the next commit.
func (d *Disk) Ack(ev Event, attempts []Attempt) {
	d.uncache(ev)
	// Refused only after Run stopped: the event stays pending on disk and
	// is delivered again at the next start (at least once).
	d.send(op{kind: opAck, ev: ev, attempts: attempts, at: time.Now()})
	// The key is free for its next event once ev's outcome is queued, not
	// before: else the next event's outcome could be written first, and a
	// crash between the two would deliver ev again after it (an older
	// event of the key last).
	d.idx.done(ev)
}

// Dead records that ev was given up on, with the reason and its attempts.
func (d *Disk) Dead(ev Event, reason string, attempts []Attempt) {
	d.uncache(ev)
	d.send(op{kind: opDead, ev: ev, attempts: attempts, reason: reason, at: time.Now()})
	d.idx.done(ev) // after the send, as in Ack
}

// Tried records the attempts made so far (those of ev.Tried included) on
// ev, which is being delivered and stays pending: if the agent stops
// before ev is delivered or given up on, its next delivery goes on from
// them. Attempts are not kept after the call.
func (d *Disk) Tried(ev Event, attempts []Attempt) {
	d.send(op{kind: opTried, ev: Event{Seq: ev.Seq}, attempts: slices.Clone(attempts), at: time.Now()})
}

// Park gives back ev, whose delivery waits for a retry, until p is due:
// its attempts so far are written (all of them, so that Next reads them
// back with it) and, once they are on disk, the event waits in the index,
// its body not in memory, and its key busy. When it is due Next hands it
// out again, with them in Tried. It fails, and ev is still the caller's
// to end, once Run has stopped.
func (d *Disk) Park(ev Event, attempts []Attempt, p Parking) error {
	// Its worker is free now, not once the attempts are written; marked
	// before the park is queued, which may make the event due and handed
	// out again before send returns. (A failed send leaves the mark to
	// the caller's end of ev.)
	d.idx.waits(ev)
	if err := d.send(op{kind: opPark, ev: Event{Seq: ev.Seq, Key: ev.Key}, attempts: slices.Clone(attempts), park: &p}); err != nil {
		return err
	}
	d.uncache(ev)
	return nil
}

// Unpark puts every parked event back on its own due time: paced ones
// are due sooner (the handler is back). So are those whose attempts are
// still being written, once they are.
func (d *Disk) Unpark() { d.idx.unpaceAll() }

// Share is Memory.Share.
func (d *Disk) Share(n int) { d.idx.setShare(n) }

// Waits is Memory.Waits.
func (d *Disk) Waits(ev Event) { d.idx.waits(ev) }

// Len reports the events appended and not yet acknowledged, declared dead
// or released.
func (d *Disk) Len() int { return d.idx.len() }

// Stored counts the pending events in the file: once Run has returned,
// those the next start delivers. Len counts every event not done yet,
// stored or still waiting to be written (all of them, after Run failed).
func (d *Disk) Stored() int {
	d.fileMu.Lock()
	defer d.fileMu.Unlock()
	n := 0
	for _, p := range d.places {
		if p.state() == Pending {
			n++
		}
	}
	return n
}

// DeadLetters counts the dead letters in the file, as `events list --dead`
// lists them; any goroutine may call it.
func (d *Disk) DeadLetters() int64 { return d.letters.Load() }

// LastRun is when the file was last written before it was opened: while
// a spool runs, the file is written (or its modification time set) at
// least every Heartbeat, and as Run ends, to when Close was called; so
// this is when the previous run stopped reading, or within Heartbeat of
// when it crashed. Zero for a new file. An offline `events replay`,
// `purge` or `salvage` since keeps it (writeEnd, Salvage).
func (d *Disk) LastRun() time.Time { return d.lastRun }

// touch sets the file's modification time to now, or, once Close was
// called, to when it was (see LastRun).
func (d *Disk) touch() {
	at := time.Now()
	if c := d.closedAt.Load(); c != 0 {
		at = time.Unix(0, c)
	}
	os.Chtimes(d.cfg.Path, time.Time{}, at)
}

// Close stops Append and Next; what is pending stays on disk for the next
// start. Run must still be stopped to flush the last writes. The agent
// calls it once its connections are closed, so when it was called is the
// time the file keeps as its last (see touch): the next start's gap
// begins when reading stopped, not when the drain after it ended (a soak
// saw 432 events sent during a 2.4 s drain fall outside any logged gap).
func (d *Disk) Close() {
	d.closedAt.CompareAndSwap(0, time.Now().UnixNano())
	d.idx.close()
}

// Durable reports true: pending events survive a restart.
func (d *Disk) Durable() bool { return true }

// Path is the spool file.
func (d *Disk) Path() string { return d.cfg.Path }

// Release gives back an event without an outcome and frees its key: it
// stays pending on disk, and the key's next event may be handed out. (The
// agent stops with Hold instead; tests leave events pending with it.)
func (d *Disk) Release(ev Event) {
	d.idx.done(ev)
	d.uncache(ev)
}

// Hold gives back an event the agent is stopping too early to deliver, as
// Release does, but keeps its key busy: no later event of the key is
// handed out in this run, so none overtakes it. The event stays pending
// on disk, first of its key at the next start.
func (d *Disk) Hold(ev Event) {
	d.idx.hold(ev)
	d.uncache(ev)
}

// Reject stores a frame refused on arrival straight among the dead
// letters, with the reason; it is never handed out. A refused one (a bad
// signature: replayable false) is never replayed either; a replayable one
// (kept although it is not an event) is, by id, as any dead letter. It
// fails with ErrClosed once Run has returned: the frame is not stored.
func (d *Disk) Reject(ev Event, reason string, replayable bool) error {
	d.appendMu.Lock()
	defer d.appendMu.Unlock()
	d.seq++
	ev.Seq = d.seq
	kind := opReject
	if replayable {
		kind = opDOA
	}
	if err := d.send(op{kind: kind, ev: ev, reason: reason, at: time.Now()}); err != nil {
		d.seq--
		return err
	}
	return nil
}
