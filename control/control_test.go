package control

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
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
	stale.SetUnlinkOnClose(false) // as a crash leaves it
	stale.Close()
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
