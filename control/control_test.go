package control

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestAskServe: a request reaches the replayer with its selection and the
// answer comes back; the replayer's error comes back as an error, and so
// does an unknown request; a socket left by a crashed agent is replaced;
// with no agent, Ask says so.
func TestAskServe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	stale, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	stale.UnixListener.Close() // no removal: as a crash leaves it
	ln, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	if fi, err := os.Stat(path + Suffix); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	var got spool.Selection
	done := make(chan struct{})
	go func() {
		defer close(done)
		Serve(ln, Spool{
			Replay: func(_ context.Context, sel spool.Selection) (spool.Replayed, error) {
				got = sel
				if sel.Dead {
					return spool.Replayed{N: 2, Refused: 1}, nil
				}
				return spool.Replayed{}, errors.New("spool: x: no such event")
			},
			Purge: func(_ context.Context, states ...spool.State) ([]int, error) { return []int{len(states), 7}, nil },
		})
	}()
	ctx := context.Background()
	resp, err := Ask(ctx, path, Request{Op: "replay", Dead: true})
	if err != nil || resp.Replayed != 2 || resp.Refused != 1 || !got.Dead {
		t.Fatalf("Ask = %+v, %v (the replayer got %+v); want 2 replayed, 1 refused", resp, err, got)
	}
	if _, err := Ask(ctx, path, Request{Op: "replay", IDs: []string{"abcdefgh"}}); err == nil || err.Error() != "spool: x: no such event" || got.IDs[0] != "abcdefgh" {
		t.Fatalf("Ask of an unknown id = %v, want the replayer's error", err)
	}
	if resp, err := Ask(ctx, path, Request{Op: "purge", States: []spool.State{spool.Dead, spool.Delivered}}); err != nil || len(resp.Purged) != 2 || resp.Purged[0] != 2 {
		t.Fatalf("Ask(purge) = %+v, %v; want the purger's counts", resp, err)
	}
	if _, err := Ask(ctx, path, Request{Op: "salvage"}); err == nil {
		t.Fatal("an unknown request was answered without an error")
	}
	ln.Close()
	<-done // Serve returns once ln is closed
	if _, err := Ask(ctx, path, Request{Op: "replay", Dead: true}); !errors.Is(err, ErrNoAgent) {
		t.Fatalf("Ask with no agent = %v, want ErrNoAgent", err)
	}
}

// A client that connects and says nothing holds up no other request, and
// neither it nor a request still acting on the spool holds up the agent's
// stop: once the listener is closed, Serve ends them and returns, and the
// waiting command gets an error. (A review saw an idle client block every
// other request, and listen's exit, for 30 s.)
func TestIdleClientHoldsUpNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	acting := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		Serve(ln, Spool{
			Replay: func(ctx context.Context, sel spool.Selection) (spool.Replayed, error) {
				if !sel.Dead {
					return spool.Replayed{N: 1}, nil
				}
				close(acting)
				<-ctx.Done() // a replay waiting for the disk, say
				return spool.Replayed{}, ctx.Err()
			},
			Purge: func(context.Context, ...spool.State) ([]int, error) { return nil, nil },
		})
	}()
	idle, err := net.Dial("unix", path+Suffix)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	ctx := context.Background()
	if resp, err := Ask(ctx, path, Request{Op: "replay", IDs: []string{"abcdefgh"}}); err != nil || resp.Replayed != 1 {
		t.Fatalf("Ask beside an idle client = %+v, %v; want 1 replayed", resp, err)
	}
	asked := make(chan error, 1)
	go func() {
		_, err := Ask(ctx, path, Request{Op: "replay", Dead: true})
		asked <- err
	}()
	<-acting
	ln.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return within 10 s of the listener's close, with an idle client and a request under way")
	}
	if err := <-asked; err == nil {
		t.Error("the request ended by the stop got no error")
	}
}

// longSpool makes a spool file in a fresh directory whose path and Suffix
// are too long for a unix socket.
func longSpool(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), strings.Repeat("s", 110)+".spool")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if len(path+Suffix) <= maxSockLen {
		t.Fatalf("%s is short enough for a socket beside it", path)
	}
	return path
}

// shortDir is a fresh directory with a short path, mode 0700, removed when
// the test ends (t.TempDir's path holds the test's name, too long to leave
// room for a socket in it).
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// serveCount serves ln with a replayer that replays 3 events, until the
// returned stop closes ln and waits for Serve to return.
func serveCount(ln *Listener) (stop func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		Serve(ln, Spool{
			Replay: func(context.Context, spool.Selection) (spool.Replayed, error) { return spool.Replayed{N: 3}, nil },
			Purge:  func(context.Context, ...spool.State) ([]int, error) { return nil, nil },
		})
	}()
	return func() { ln.Close(); <-done }
}

// TestLongSpoolPath: when the spool's path and ".ctl" are too long for a
// unix socket (the reviewer's "bind: invalid argument" on a default
// spool), the socket goes to a private directory of the user, mode 0600:
// $XDG_RUNTIME_DIR/dialpad-tunnel, or dialpad-tunnel-<uid> under TMPDIR
// when XDG_RUNTIME_DIR is unset or not private; Ask finds it there, even
// with an XDG_RUNTIME_DIR that listen did not have, and gets Serve's
// answer; a socket left there by a crashed agent is replaced.
func TestLongSpoolPath(t *testing.T) {
	uidDir := "dialpad-tunnel-" + strconv.Itoa(os.Getuid())
	for _, tc := range []struct {
		name              string
		listenXDG, askXDG string // "private", "open" (mode 0755) or "" (unset)
		want              string // the socket's directory: "xdg" or "tmp"
	}{
		{"xdg", "private", "private", "xdg"},
		{"tmp", "", "", "tmp"},
		{"xdg not private", "open", "open", "tmp"},
		{"xdg for ask only", "", "private", "tmp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			xdg, tmp := shortDir(t), shortDir(t)
			setXDG := func(how string) {
				switch how {
				case "":
					t.Setenv("XDG_RUNTIME_DIR", "")
				case "open":
					if err := os.Chmod(xdg, 0o755); err != nil {
						t.Fatal(err)
					}
					t.Setenv("XDG_RUNTIME_DIR", xdg)
				default:
					if err := os.Chmod(xdg, 0o700); err != nil {
						t.Fatal(err)
					}
					t.Setenv("XDG_RUNTIME_DIR", xdg)
				}
			}
			path := longSpool(t)
			t.Setenv("TMPDIR", tmp)
			t.Setenv("XDG_CACHE_HOME", shortDir(t))
			setXDG(tc.listenXDG)
			stale, err := Listen(path)
			if err != nil {
				t.Fatalf("Listen(%d-byte spool path) = %v", len(path), err)
			}
			stale.UnixListener.Close() // no removal: as a crash leaves it
			ln, err := Listen(path)
			if err != nil {
				t.Fatalf("Listen over a stale socket: %v", err)
			}
			stop := serveCount(ln)
			defer stop()

			dir := filepath.Join(tmp, uidDir)
			if tc.want == "xdg" {
				dir = filepath.Join(xdg, "dialpad-tunnel")
			}
			socks, _ := filepath.Glob(filepath.Join(dir, "*"+Suffix))
			if len(socks) != 1 {
				t.Fatalf("sockets in %s: %q, want one", dir, socks)
			}
			if fi, err := os.Lstat(socks[0]); err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
				t.Fatalf("control socket %s: %v (%v), want a socket, mode 0600", socks[0], fi.Mode(), err)
			}
			if fi, err := os.Lstat(dir); err != nil || fi.Mode().Perm() != 0o700 {
				t.Fatalf("socket directory %s: mode %v (%v), want 0700", dir, fi.Mode().Perm(), err)
			}
			if _, err := os.Lstat(path + Suffix); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("something is beside the spool at %s%s (%v)", path, Suffix, err)
			}

			setXDG(tc.askXDG)
			ctx := context.Background()
			if resp, err := Ask(ctx, path, Request{Op: "replay", Dead: true}); err != nil || resp.Replayed != 3 {
				t.Fatalf("Ask = %+v, %v; want 3 replayed", resp, err)
			}
			stop()
			if _, err := Ask(ctx, path, Request{Op: "replay", Dead: true}); !errors.Is(err, ErrNoAgent) {
				t.Fatalf("Ask with no agent = %v, want ErrNoAgent", err)
			}
		})
	}
}

// TestFallbackRefused: a socket directory under TMPDIR that is not this
// user's private directory, or a TMPDIR too long to hold a socket, is
// refused, and with a cache directory others may write to, the last
// place, too, with an error that says what is wrong and what to do, not
// "bind: invalid argument"; no socket is made, and Ask says that no agent
// answers, and why.
func TestFallbackRefused(t *testing.T) {
	uidDir := "dialpad-tunnel-" + strconv.Itoa(os.Getuid())
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, tmp string) string // makes TMPDIR, returns it
		want    string                                // what the errors say is wrong ("%s": the socket's path)
	}{
		{"group and others may enter", func(t *testing.T, tmp string) string {
			dir := filepath.Join(tmp, uidDir)
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			return tmp
		}, uidDir + ": has mode 0755, which lets group or others in (want 0700)"},
		{"symbolic link", func(t *testing.T, tmp string) string {
			if err := os.Symlink(t.TempDir(), filepath.Join(tmp, uidDir)); err != nil {
				t.Fatal(err)
			}
			return tmp
		}, uidDir + ": is a symbolic link, not a directory of this user"},
		{"TMPDIR too long", func(t *testing.T, tmp string) string {
			long := filepath.Join(tmp, strings.Repeat("t", 100))
			if err := os.Mkdir(long, 0o700); err != nil {
				t.Fatal(err)
			}
			return long
		}, "%s is too long for a unix socket ("},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := longSpool(t)
			tmp := tc.prepare(t, shortDir(t))
			t.Setenv("XDG_CACHE_HOME", openCache(t))
			t.Setenv("XDG_RUNTIME_DIR", "")
			t.Setenv("TMPDIR", tmp)
			want := tc.want
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, filepath.Join(tmp, uidDir, sockName(realPath(t, path), "")))
			}
			ln, err := Listen(path)
			if err == nil {
				ln.Close()
				t.Fatal("Listen made a socket in a directory that is not private or too long")
			}
			for _, want := range []string{
				"control socket: " + path + Suffix + " is too long for a unix socket (",
				want,
				"which lets group or others write to it",
				"use a shorter --spool path, or set TMPDIR to a short directory of your own",
			} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Listen error %q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "invalid argument") {
				t.Errorf("Listen error %q is bind's", err)
			}
			if socks, _ := filepath.Glob(filepath.Join(tmp, uidDir, "*")); len(socks) != 0 {
				t.Errorf("Listen made %q", socks)
			}
			_, err = Ask(context.Background(), path, Request{Op: "replay", Dead: true})
			if !errors.Is(err, ErrNoAgent) || !strings.Contains(err.Error(), want) {
				t.Errorf("Ask = %v, want ErrNoAgent saying %q", err, want)
			}
		})
	}
}

// openCache is a cache directory others may write to: no place for a
// control socket.
func openCache(t *testing.T) string {
	t.Helper()
	dir := shortDir(t)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestTakenTmpDirFallsBackToCache: when dialpad-tunnel-<uid> under a shared
// TMPDIR is not this user's (another user made it first), the socket goes
// to dialpad-tunnel under the user's cache directory, and Ask finds it
// there: live replay still works.
func TestTakenTmpDirFallsBackToCache(t *testing.T) {
	tmp, cache := shortDir(t), shortDir(t)
	taken := filepath.Join(tmp, "dialpad-tunnel-"+strconv.Itoa(os.Getuid()))
	if err := os.Mkdir(taken, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(taken, 0o755); err != nil { // as good as another user's: refused
		t.Fatal(err)
	}
	if err := os.Chmod(cache, 0o755); err != nil { // a usual ~/.cache
		t.Fatal(err)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("TMPDIR", tmp)
	t.Setenv("XDG_CACHE_HOME", cache)
	path := longSpool(t)
	ln, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen with the TMPDIR place taken = %v, want the cache directory used", err)
	}
	stop := serveCount(ln)
	defer stop()
	dir := filepath.Join(cache, "dialpad-tunnel")
	if socks, _ := filepath.Glob(filepath.Join(dir, "*"+Suffix)); len(socks) != 1 {
		t.Fatalf("sockets in %s: %q, want one", dir, socks)
	}
	// Named for this host too: a cache directory may be shared by hosts.
	host, _ := os.Hostname()
	name := sockName(realPath(t, path), host)
	if _, err := os.Lstat(filepath.Join(dir, name)); err != nil || name == sockName(realPath(t, path), "other") {
		t.Errorf("the socket is not named for this host: %v", err)
	}
	if fi, err := os.Lstat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("socket directory %s: mode %v (%v), want 0700", dir, fi.Mode().Perm(), err)
	}
	if resp, err := Ask(context.Background(), path, Request{Op: "replay", Dead: true}); err != nil || resp.Replayed != 3 {
		t.Fatalf("Ask = %+v, %v; want 3 replayed", resp, err)
	}
}

// TestSpellingsOfOneSpool: an agent and a command that name one spool
// file by two spellings, one short enough for a socket beside it and one
// too long (through a symbolic link to its directory), find each other,
// whichever spelling the agent was given.
func TestSpellingsOfOneSpool(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("TMPDIR", shortDir(t))
	t.Setenv("XDG_CACHE_HOME", shortDir(t))
	real := shortDir(t)
	short := filepath.Join(real, "e.spool")
	if err := os.WriteFile(short, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), strings.Repeat("l", 100))
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	long := filepath.Join(link, "e.spool")
	if len(short+Suffix) > maxSockLen || len(long+Suffix) <= maxSockLen {
		t.Fatalf("spellings %d and %d bytes long: want one short enough for a socket, one not", len(short), len(long))
	}
	for _, tc := range []struct{ listen, ask string }{{short, long}, {long, short}} {
		ln, err := Listen(tc.listen)
		if err != nil {
			t.Fatal(err)
		}
		stop := serveCount(ln)
		resp, err := Ask(context.Background(), tc.ask, Request{Op: "replay", Dead: true})
		stop()
		if err != nil || resp.Replayed != 3 {
			t.Errorf("listen given %d bytes, ask %d: Ask = %+v, %v; want 3 replayed", len(tc.listen), len(tc.ask), resp, err)
		}
	}
}

// realPath is path with its symbolic links resolved, as the socket's name
// hashes it.
func realPath(t *testing.T, path string) string {
	t.Helper()
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	return real
}

// TestCloseLeavesAnotherSocket: closing a control socket removes its file
// only while it is still this one's: one another agent made at the path
// since (after the spool file was removed, nothing held its lock) stays,
// and still answers. (Closing the first one used to remove it.)
func TestCloseLeavesAnotherSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	first, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Listen(path) // removes the first one's file, as a start over a stale one does
	if err != nil {
		t.Fatal(err)
	}
	stop := serveCount(second)
	defer stop()
	first.Close()
	if _, err := os.Lstat(path + Suffix); err != nil {
		t.Fatalf("the second agent's socket after the first one closed: %v, want it there", err)
	}
	if _, err := Ask(context.Background(), path, Request{Op: "purge", States: []spool.State{spool.Dead}}); err != nil {
		t.Fatalf("Ask after the first one closed: %v, want the second one's answer", err)
	}
	second.Close()
	if _, err := os.Lstat(path + Suffix); !os.IsNotExist(err) {
		t.Fatalf("the socket after its own agent closed: %v, want it removed", err)
	}
}

// serveReplay serves the control socket of the spool at path with replay,
// and a purge that purges nothing, until the test ends.
func serveReplay(t *testing.T, path string, replay func(context.Context, spool.Selection) (spool.Replayed, error)) {
	t.Helper()
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Serve(ln, Spool{Replay: replay, Purge: func(context.Context, ...spool.State) ([]int, error) { return nil, nil }})
	}()
	t.Cleanup(func() { ln.Close(); <-done })
}

// TestAskWhileStopping: a request that finds the spool closed (listen
// stopping) is answered in words a user can act on, not "spool: closed".
func TestAskWhileStopping(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	serveReplay(t, path, func(context.Context, spool.Selection) (spool.Replayed, error) {
		return spool.Replayed{}, fmt.Errorf("spool: %s: replay: %w", path, spool.ErrClosed)
	})
	_, err := Ask(context.Background(), path, Request{Op: "replay", Dead: true})
	if err == nil || !strings.Contains(err.Error(), "listen is stopping") || strings.Contains(err.Error(), "spool: closed") {
		t.Fatalf("Ask while stopping = %v, want it to say listen is stopping", err)
	}
}

// TestAskNoAnswer: a listen that got a request and does not answer in
// time (stopped with SIGSTOP, or too busy) may still carry it out later:
// the error says so, and how to check, not just "no answer".
func TestAskNoAnswer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	got := make(chan struct{})
	var gotOnce sync.Once
	release := make(chan struct{})
	defer close(release) // before serveReplay's cleanup waits for Serve
	serveReplay(t, path, func(context.Context, spool.Selection) (spool.Replayed, error) {
		gotOnce.Do(func() { close(got) })
		<-release
		return spool.Replayed{}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-got; cancel() }() // the request is in: give up waiting
	_, err := Ask(ctx, path, Request{Op: "replay", Dead: true})
	if err == nil || !strings.Contains(err.Error(), "may still carry it out") || !strings.Contains(err.Error(), "events list") || !strings.Contains(err.Error(), "replay request") {
		t.Fatalf("Ask unanswered = %v, want it to say the replay may still be carried out and how to check", err)
	}
	// Its deadline, which the connection's may beat by a moment: said
	// the same way, never as a closed connection.
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = Ask(ctx, path, Request{Op: "replay", Dead: true})
	if err == nil || !strings.Contains(err.Error(), "did not answer in time") {
		t.Fatalf("Ask past its deadline = %v, want it to say the listen did not answer in time", err)
	}
}

// TestAskClosedWithoutAnswer: a listen that closes the connection after
// the request (it stopped, or crashed) is not said to be still carrying it
// out: it may or may not have.
func TestAskClosedWithoutAnswer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		bufio.NewReader(c).ReadString('\n') // the request, then gone
		c.Close()
	}()
	defer func() { ln.Close(); <-done }()
	_, err = Ask(context.Background(), path, Request{Op: "purge", Dead: true})
	if err == nil || !strings.Contains(err.Error(), "closed the connection without answering") || !strings.Contains(err.Error(), "may or may not have carried out the purge request") {
		t.Fatalf("Ask answered by a close = %v, want it to say so", err)
	}
}

// A status asked while a replay waits on the spool is answered at once:
// it reads counters only, and a health probe must not wait out the
// replay (up to AnswerWait).
func TestStatusBesideReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.spool")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	acting, release := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		Serve(ln, Spool{
			Replay: func(ctx context.Context, _ spool.Selection) (spool.Replayed, error) {
				close(acting)
				select {
				case <-release:
				case <-ctx.Done():
				}
				return spool.Replayed{N: 1}, nil
			},
			Purge:  func(context.Context, ...spool.State) ([]int, error) { return nil, nil },
			Status: func() any { return map[string]int{"connections": 1} },
		})
	}()
	replayed := make(chan error, 1)
	go func() {
		_, err := Ask(context.Background(), path, Request{Op: "replay", Dead: true})
		replayed <- err
	}()
	<-acting
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := Ask(ctx, path, Request{Op: "status"})
	if err != nil || string(resp.Status) != `{"connections":1}` {
		t.Errorf("status during a replay = %s, %v; want {\"connections\":1} at once", resp.Status, err)
	}
	close(release)
	if err := <-replayed; err != nil {
		t.Errorf("replay: %v", err)
	}
	ln.Close()
	<-done
}
