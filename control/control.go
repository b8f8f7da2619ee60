// Package control is the socket through which an `events` command asks a
// running `listen` to act on the spool it holds (replay, purge): each spool file has one,
// made by listen, mode 0600, so only the spool's owner may use it. It is
// beside the file (the file's path and ".ctl") when that path fits in a
// unix socket address; otherwise it is in a directory only this user may
// use ($XDG_RUNTIME_DIR/dialpad-tunnel, or dialpad-tunnel-<uid> under the
// temporary directory), named by a hash of the spool's absolute path.
package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// Suffix names a spool file's control socket: its path and Suffix, when
// that fits in a unix socket address.
const Suffix = ".ctl"

// Request is what a command asks: Op "replay", with the selection,
// "purge", with the states, or "status".
type Request struct {
	Op     string        `json:"op"`
	IDs    []string      `json:"ids,omitempty"`
	Dead   bool          `json:"dead,omitempty"`
	Since  time.Time     `json:"since,omitzero"`
	States []spool.State `json:"states,omitempty"`
}

// Response is the agent's answer.
type Response struct {
	Replayed int `json:"replayed"`
	Refused  int `json:"refused"`
	// NonEvents is spool.Replayed.NonEvents.
	NonEvents int    `json:"non_events,omitempty"`
	Purged    []int  `json:"purged,omitempty"` // per state asked
	Error     string `json:"error,omitempty"`
	// Status is what Spool.Status gave, as JSON.
	Status json.RawMessage `json:"status,omitempty"`
}

// Spool is what the socket serves: spool.Disk's ReplayLive and PurgeLive,
// and the running listen's status (a value encoding/json can write).
type Spool struct {
	Replay func(context.Context, spool.Selection) (spool.Replayed, error)
	Purge  func(context.Context, ...spool.State) ([]int, error)
	Status func() any
}

// AnswerWait bounds one request, from the connection to the answer.
const AnswerWait = 30 * time.Second

// Listen makes the control socket of the spool file at path. The caller
// holds the spool's lock, so a socket left there is a crashed agent's and
// is removed first.
func Listen(path string) (*Listener, error) {
	sock, err := listenPath(path)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(sock)
	}
	var ln *net.UnixListener
	err = private(func() (err error) {
		ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln.SetUnlinkOnClose(false) // Close removes it, if it is still this one
	made, err := os.Lstat(sock)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return &Listener{UnixListener: ln, sock: sock, made: made}, nil
}

// Listener is a control socket. Its Close removes the socket file only
// while it is still this one: another agent's, made there since (after
// the spool file was removed, nothing held its lock), stays.
type Listener struct {
	*net.UnixListener
	sock string
	made os.FileInfo
}

// Close stops listening and removes the socket file if it is this one's.
func (l *Listener) Close() error {
	err := l.UnixListener.Close()
	if now, serr := os.Lstat(l.sock); serr == nil && os.SameFile(now, l.made) {
		os.Remove(l.sock)
	}
	return err
}

// Serve answers requests on ln until ln is closed, then ends the requests
// under way (their commands get an error) and returns. Each connection is
// read on a goroutine of its own, so a client that connects and says
// nothing holds up no other (it is dropped after requestWait); the
// requests act on the spool one at a time. An Accept that fails otherwise
// (out of file descriptors, say) is tried again after a pause, as
// net/http's server does.
func Serve(ln *Listener, s Spool) {
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg     sync.WaitGroup
		one    sync.Mutex // held by the request acting on the spool
		connMu sync.Mutex
		conns  = make(map[net.Conn]struct{})
	)
	defer func() {
		cancel()
		connMu.Lock()
		for c := range conns {
			c.Close()
		}
		connMu.Unlock()
		wg.Wait()
	}()
	pause := acceptPauseMin
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			time.Sleep(pause)
			pause = min(2*pause, acceptPauseMax)
			continue
		}
		pause = acceptPauseMin
		connMu.Lock()
		conns[c] = struct{}{}
		connMu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve(ctx, c, s, &one)
			connMu.Lock()
			delete(conns, c)
			connMu.Unlock()
			c.Close()
		}()
	}
}

// acceptPauseMin and acceptPauseMax bound the pause after a failed Accept.
const (
	acceptPauseMin = 5 * time.Millisecond
	acceptPauseMax = time.Second
)

// requestWait bounds the wait for a request once connected: Ask sends it
// at once.
const requestWait = 5 * time.Second

// serve answers one request on c, acting on the spool while it holds one.
func serve(ctx context.Context, c net.Conn, s Spool, one *sync.Mutex) {
	ctx, cancel := context.WithTimeout(ctx, AnswerWait)
	defer cancel()
	c.SetDeadline(time.Now().Add(requestWait))
	var req Request
	var resp Response
	var err error
	if _, untrusted := untrustedPeer(c, ""); untrusted {
		// The socket's mode (0600) lets only this user (and root) in:
		// one of another user got in through a socket made open.
		err = errors.New("control socket: refused: the connecting process is of another user")
	} else if err = json.NewDecoder(bufio.NewReader(c)).Decode(&req); err != nil {
		err = fmt.Errorf("control socket: bad request: %w", err)
	} else {
		c.SetDeadline(time.Now().Add(AnswerWait))
		if req.Op == "status" {
			// Read from counters: not behind a replay or purge under way
			// (one), which a status probe would wait out.
			resp.Status, err = status(s)
		} else {
			one.Lock()
			resp, err = act(ctx, s, req)
			one.Unlock()
		}
	}
	if errors.Is(err, spool.ErrClosed) {
		err = errStopping
	}
	if err != nil {
		resp.Error = err.Error()
	}
	json.NewEncoder(c).Encode(resp)
}

// errStopping is the answer to a request that came as listen stopped.
var errStopping = errors.New("listen is stopping: it may or may not have carried this out; once it has stopped, `events list` shows which (and the command then acts on the file itself)")

// ErrNoAgent is Ask's error when nothing answers on the socket: there is
// none, or a crashed agent's is left there (the connection is refused).
var ErrNoAgent = errors.New("no running agent answers on the control socket")

// ErrOtherUser is Ask's error when no socket of the spool answered as its
// agent, and one is another user's: this user may not connect to it
// (permission denied), or a process of another user, neither this one,
// root nor the spool file's owner, serves it. Nothing was sent to it. An
// agent of that user may hold the spool, or one that crashed left the
// socket, or that user put it there: from here, which cannot be told.
// The error is an *OtherUserError, which says more.
var ErrOtherUser = errors.New("the control socket is not this user's to use")

// Ask sends req to the agent holding the spool file at path and returns
// its answer; an error the agent gave comes back as an error.
func Ask(ctx context.Context, path string, req Request) (Response, error) {
	ctx, cancel := context.WithTimeout(ctx, AnswerWait)
	defer cancel()
	c, sock, err := dial(ctx, path)
	if err != nil {
		return Response{}, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	// A cancel (Ctrl-C) ends the wait at once, as the deadline does.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if err := json.NewEncoder(c).Encode(req); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err() // the deadline or a cancel, not the socket
		}
		return Response{}, fmt.Errorf("control socket %s: the %s request was not sent whole (%w): nothing was changed", sock, req.Op, err)
	}
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		check := "`events list` shows whether it did"
		var ne net.Error
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded), ctx.Err() == nil && errors.As(err, &ne) && ne.Timeout():
			// The connection's deadline is the context's: it may
			// strike a moment before the context is done.
			// A listen that is stopped (SIGSTOP) or too busy to answer
			// in time may still carry it out.
			return Response{}, fmt.Errorf("control socket %s: the running listen did not answer in time; it got the %s request and may still carry it out: %s", sock, req.Op, check)
		case ctx.Err() != nil:
			return Response{}, fmt.Errorf("control socket %s: %w before the running listen answered; it got the %s request and may still carry it out: %s", sock, ctx.Err(), req.Op, check)
		}
		// The listen closed the connection (it stopped, or crashed).
		return Response{}, fmt.Errorf("control socket %s: the running listen closed the connection without answering (%w): it may or may not have carried out the %s request before it went; %s", sock, err, req.Op, check)
	}
	if resp.Error != "" {
		return resp, errors.New(resp.Error)
	}
	return resp, nil
}

// dial connects to the first of the spool's sockets (askPaths) that
// answers as the spool's agent, and says which. Otherwise its error is an
// *OtherUserError (ErrOtherUser) when a socket is another user's
// (notPermitted, untrustedPeer), else ErrNoAgent, and says why none would
// do.
func dial(ctx context.Context, path string) (net.Conn, string, error) {
	socks, why := askPaths(path)
	var d net.Dialer
	var others []Refusal
	for _, sock := range socks {
		c, err := d.DialContext(ctx, "unix", sock)
		switch {
		case err == nil:
			// Another user may have made a socket there first (a spool in
			// a folder others may write to): it gets no request.
			uid, untrusted := untrustedPeer(c, path)
			if !untrusted {
				return c, sock, nil
			}
			c.Close()
			others = append(others, Refusal{Sock: sock, Served: true, UID: uid})
		case errors.Is(err, fs.ErrPermission):
			others = append(others, notPermitted(sock))
		default:
			why = append(why, err.Error())
		}
	}
	if len(others) > 0 {
		return nil, "", &OtherUserError{Refusals: others}
	}
	return nil, "", fmt.Errorf("%w (%s)", ErrNoAgent, strings.Join(why, "; "))
}

// status is s.Status's answer, as JSON.
func status(s Spool) (json.RawMessage, error) {
	if s.Status == nil {
		return nil, errors.New("control socket: this listen gives no status")
	}
	return json.Marshal(s.Status())
}

// act does a replay or purge on the spool.
func act(ctx context.Context, s Spool, req Request) (resp Response, err error) {
	switch req.Op {
	case "replay":
		var res spool.Replayed
		res, err = s.Replay(ctx, spool.Selection{IDs: req.IDs, Dead: req.Dead, Since: req.Since})
		resp.Replayed, resp.Refused, resp.NonEvents = res.N, res.Refused, res.NonEvents
	case "purge":
		resp.Purged, err = s.Purge(ctx, req.States...)
	default:
		err = fmt.Errorf("control socket: unknown request %q", req.Op)
	}
	return resp, err
}
