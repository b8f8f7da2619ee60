//go:build unix

package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/console"
	"github.com/dialpad-tunnel/dialpad-tunnel/osuser"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// nobodyUID is the user TestAskNotPermitted asks as, when run as root.
const nobodyUID = 65534

// askResult is what Ask gave in TestHelperAskAsOther, for the test to check.
type askResult struct {
	Err       string    `json:"err"`
	NoAgent   bool      `json:"no_agent"`
	OtherUser bool      `json:"other_user"`
	Refusals  []Refusal `json:"refusals"` // an *OtherUserError's
}

// askResultOf is what Ask gave, err, as an askResult.
func askResultOf(err error) askResult {
	r := askResult{Err: fmt.Sprint(err), NoAgent: errors.Is(err, ErrNoAgent), OtherUser: errors.Is(err, ErrOtherUser)}
	var oe *OtherUserError
	if errors.As(err, &oe) {
		r.Refusals = oe.Refusals
	}
	return r
}

// TestAskNotPermitted: a control socket this user may not connect to
// (another user's, mode 0600, or in another user's folder of mode 0700, as
// a service's StateDirectory) is not "no agent": Ask's error is
// ErrOtherUser, naming the socket and, as root made it, its owner (root,
// by name where uid 0 has one),
// and saying that a listen of that user may hold the spool. A stale one (a
// crashed listen's) is not said for sure to run. Nothing reaches the
// listen. As root, Ask runs as another user (this test binary, run as
// nobody); as another user, on a socket or folder of mode 0 instead.
func TestAskNotPermitted(t *testing.T) {
	asRoot := os.Getuid() == 0
	shared, err := os.MkdirTemp("", "ctlperm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shared) })
	if err := os.Chmod(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := ""
	if asRoot {
		exe = copyTestBinary(t, shared)
	}
	for _, tc := range []struct {
		name   string
		folder os.FileMode // the spool's folder's mode
		live   bool        // a listen serves the socket; else a crashed one's is left
		want   string      // in the error, as root: who the socket is
	}{
		{"socket", 0o755, true, "; the socket is " + osuser.Possessive(0) + ", mode 0600: "},
		{"folder", 0o700, true, "is " + osuser.Possessive(0) + ", mode 0700, and this user may not look in it"},
		{"stale", 0o755, false, "; the socket is " + osuser.Possessive(0) + ", mode 0600: "},
		// A path a shell would split: quoted in the command to check it.
		{"the service's", 0o700, true, "is " + osuser.Possessive(0) + ", mode 0700, and this user may not look in it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(shared, tc.name)
			if err := os.Mkdir(dir, tc.folder); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "events.spool")
			ln, err := Listen(path)
			if err != nil {
				t.Fatal(err)
			}
			var asked atomic.Int32
			if tc.live {
				done := make(chan struct{})
				go func() {
					defer close(done)
					Serve(ln, Spool{
						Replay: func(context.Context, spool.Selection) (spool.Replayed, error) {
							asked.Add(1)
							return spool.Replayed{N: 1}, nil
						},
					})
				}()
				defer func() { ln.Close(); <-done }()
			} else {
				ln.UnixListener.Close() // no removal: as a crash leaves it
			}
			var got askResult
			if asRoot {
				got = askAsNobody(t, exe, path)
			} else {
				// The owner is refused too where the mode says so.
				locked := path + Suffix
				if tc.folder == 0o700 {
					locked = dir
				}
				if err := os.Chmod(locked, 0); err != nil {
					t.Fatal(err)
				}
				_, err := Ask(context.Background(), path, Request{Op: "replay", Dead: true})
				os.Chmod(locked, 0o700)
				got = askResultOf(err)
			}
			if !got.OtherUser || got.NoAgent {
				t.Fatalf("Ask = %s (ErrOtherUser %v, ErrNoAgent %v); want ErrOtherUser, not ErrNoAgent", got.Err, got.OtherUser, got.NoAgent)
			}
			// The check works for this user: where it may not look in the
			// folder, ls -l is another user's to run.
			check := "(ls -l " + console.ShellWord(path+Suffix) + ")"
			if tc.folder == 0o700 {
				check = "(sudo ls -l " + console.ShellWord(path+Suffix) + ")"
			}
			for _, want := range []string{path + Suffix + ": permission denied to this user", "may hold the spool, or one that crashed left the socket", check} {
				if !strings.Contains(got.Err, want) {
					t.Errorf("Ask = %s\nwant it to say %q", got.Err, want)
				}
			}
			want := Refusal{Sock: path + Suffix, Denied: path + Suffix, UID: -1}
			if tc.folder == 0o700 {
				want.Denied, want.Folder = dir, true
			}
			if asRoot {
				want.UID, want.Mode = 0, 0o600
				if want.Folder {
					want.Mode = tc.folder
				}
			} else {
				want.UID = os.Getuid() // this user's own, of mode 0 meanwhile
			}
			if len(got.Refusals) != 1 || got.Refusals[0] != want {
				t.Errorf("Ask's OtherUserError refuses %+v; want %+v", got.Refusals, want)
			}
			if asRoot {
				for _, want := range []string{tc.want, "sudo -u " + osuser.Sudo(0) + " dialpad-tunnel", fmt.Sprintf("this user (uid %d)", nobodyUID)} {
					if !strings.Contains(got.Err, want) {
						t.Errorf("Ask = %s\nwant it to say %q", got.Err, want)
					}
				}
			}
			if n := asked.Load(); n != 0 {
				t.Errorf("the listen carried out %d request(s) of a user who may not use its socket", n)
			}
		})
	}
}

// copyTestBinary copies this test binary into dir, where another user may
// run it (go test's own folder is private).
func copyTestBinary(t *testing.T, dir string) string {
	t.Helper()
	bin, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "helper.test")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	return exe
}

// askAsNobody runs exe, this test binary, as nobodyUID, to Ask the
// listen of the spool at path for a replay (TestHelperAskAsOther), and
// returns what Ask gave.
func askAsNobody(t *testing.T, exe, path string) askResult {
	t.Helper()
	cmd := exec.Command(exe, "-test.run=^TestHelperAskAsOther$")
	cmd.Env = append(os.Environ(), "CONTROL_ASK_SPOOL="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobodyUID, Gid: nobodyUID}}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper as uid %d: %v\n%s", nobodyUID, err, out)
	}
	var got askResult
	line, _, _ := strings.Cut(string(out), "\n") // the testing package's PASS follows
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("helper as uid %d: %v\n%s", nobodyUID, err, out)
	}
	return got
}

// TestHelperAskAsOther is the other user's process of TestAskNotPermitted:
// with CONTROL_ASK_SPOOL set, it asks the listen of that spool for a replay
// and prints what Ask gave, as an askResult.
func TestHelperAskAsOther(t *testing.T) {
	path := os.Getenv("CONTROL_ASK_SPOOL")
	if path == "" {
		t.Skip("helper of TestAskNotPermitted")
	}
	_, err := Ask(context.Background(), path, Request{Op: "replay", Dead: true})
	json.NewEncoder(os.Stdout).Encode(askResultOf(err))
}
