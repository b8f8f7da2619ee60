//go:build unix

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/control"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/osuser"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// nobodyUID is the user another user's commands run as, when the tests
// run as root.
const nobodyUID = 65534

// cliResult is what one run of the CLI printed and how it exited.
type cliResult struct {
	Stdout string `json:"stdout"`
	Err    string `json:"err"`
	Code   int    `json:"code"`
}

// otherUser runs commands as a user who may not use a socket or folder:
// as root, this test binary copied to exe, run as nobody; otherwise this
// process, with the mode of that socket or folder at 0 meanwhile.
type otherUser struct{ exe string }

// newOtherUser makes the otherUser of a test whose files are under shared,
// a folder every user may enter.
func newOtherUser(t *testing.T, shared string) otherUser {
	t.Helper()
	if os.Getuid() != 0 {
		return otherUser{}
	}
	bin, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(shared, "helper.test")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	return otherUser{exe: exe}
}

// run runs `dialpad-tunnel args…` as the other user, to whom denied (a
// socket or folder, if it exists) is closed.
func (o otherUser) run(t *testing.T, denied string, args ...string) cliResult {
	t.Helper()
	if o.exe == "" {
		if fi, err := os.Stat(denied); err == nil {
			if err := os.Chmod(denied, 0); err != nil {
				t.Fatal(err)
			}
			defer os.Chmod(denied, fi.Mode().Perm())
		}
		out, err := runCmd(t, args...)
		return cliResult{Stdout: out, Err: fmt.Sprint(err), Code: exitCode(err)}
	}
	cmd := helperAsNobody(o.exe, "cli")
	argv, _ := json.Marshal(args)
	cmd.Env = append(cmd.Env, "DPT_HELPER_ARGS="+string(argv))
	out, err := cmd.Output()
	var got cliResult
	line, _, _ := strings.Cut(string(out), "\n") // the testing package's PASS follows
	if err != nil || json.Unmarshal([]byte(line), &got) != nil {
		t.Fatalf("%s as uid %d: %v\n%s", strings.Join(args, " "), nobodyUID, err, out)
	}
	return got
}

// helperAsNobody is a command that runs exe, this test binary, as nobody,
// in TestHelperOtherUserCLI's role.
func helperAsNobody(exe, role string) *exec.Cmd {
	cmd := exec.Command(exe, "-test.run=^TestHelperOtherUserCLI$")
	cmd.Env = append(os.Environ(), "DPT_HELPER="+role)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobodyUID, Gid: nobodyUID}}
	cmd.Stderr = os.Stderr
	return cmd
}

// sharedDir is a folder every user may enter, removed at the test's end.
func sharedDir(t *testing.T, mode os.FileMode) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctlperm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestStatusOtherUsersListen: a user who may not use the control socket
// of a running listen (it runs as a service's user: its socket is mode
// 0600, in a StateDirectory of mode 0700, or in a folder others may enter)
// is told that status cannot tell whether a listen runs, and why: the
// socket, its owner, and to run the command as that user. It said "no
// listen runs on FILE". With --json too it exits 1, printing no JSON that
// says running false. Once listen has stopped (its socket removed),
// "no listen runs" comes back where the folder may be looked in.
func TestStatusOtherUsersListen(t *testing.T) {
	srv, wsID := fakeDialpad(t, dialpadtest.Config{}, "")
	h := newHook(t, nil)
	shared := sharedDir(t, 0o755)
	other := newOtherUser(t, shared)
	for _, tc := range []struct {
		name   string
		folder os.FileMode
	}{{"state-directory", 0o700}, {"open-folder", 0o755}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(shared, tc.name)
			if err := os.Mkdir(dir, tc.folder); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "s.spool")
			sock := path + control.Suffix
			denied := sock
			if tc.folder == 0o700 {
				denied = dir
			}
			r := start(t, listenArgs(srv, wsID, h.URL, "--spool", path)...)
			r.waitConnected(t, srv, 1)
			for _, args := range [][]string{{"status", "--spool", path}, {"status", "--spool", path, "--json"}} {
				got := other.run(t, denied, args...)
				// The whole command to run as that user, and a check this
				// user can run: ls -l of a socket in a folder it may not
				// look in can only be another user's.
				check := "(ls -l " + sock + ")"
				if tc.folder == 0o700 {
					check = "(sudo ls -l " + sock + ")"
				}
				want := []string{"status: cannot tell whether a listen runs on " + path + ": ", sock + ": permission denied to this user", "may hold the spool",
					" dialpad-tunnel " + strings.Join(args, " ") + "), or check the socket's owner", check}
				if other.exe != "" {
					mode := "; the socket is " + osuser.Possessive(0) + ", mode 0600: "
					if tc.folder == 0o700 {
						mode = "; its folder " + dir + " is " + osuser.Possessive(0) + ", mode 0700, and this user may not look in it: "
					}
					want = append(want, mode, "(sudo -u "+osuser.Sudo(0)+" dialpad-tunnel "+strings.Join(args, " ")+")")
				}
				for _, w := range want {
					if !strings.Contains(got.Err, w) {
						t.Errorf("%s as another user: %q (exit %d)\nwant it to say %q", strings.Join(args, " "), got.Err, got.Code, w)
					}
				}
				if got.Code != 1 || got.Stdout != "" || strings.Contains(got.Err, "no listen runs") {
					t.Errorf("%s as another user: exit %d, stdout %q, %q; want exit 1, nothing on stdout, never \"no listen runs\"", strings.Join(args, " "), got.Code, got.Stdout, got.Err)
				}
			}
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}
			got := other.run(t, denied, "status", "--spool", path)
			if tc.folder == 0o700 {
				return // no telling still
			}
			if got.Code != 1 || !strings.Contains(got.Err, "status: no listen runs on "+path) {
				t.Errorf("status as another user with no listen: exit %d, %q; want exit 1, no listen runs", got.Code, got.Err)
			}
		})
	}
}

// TestEventsOtherUsersSocket: while the spool is locked (a listen holds
// it) and its control socket is one this user may not use (as root: a
// socket nobody put at <spool>.ctl, in a folder anyone may write to;
// otherwise: the listen's own, of mode 0), events replay and purge stop
// at once (waiting frees no lock), saying so and that nothing was changed,
// and send the socket nothing. They waited 10 s (lockedWait) and said that
// no agent answered.
func TestEventsOtherUsersSocket(t *testing.T) {
	shared := sharedDir(t, os.ModeSticky|0o777)
	other := newOtherUser(t, shared)
	path := filepath.Join(shared, "events.spool")
	sock := path + control.Suffix
	defer holdSpool(t, path)()
	var requests func() int
	if other.exe != "" {
		requests = plantSocket(t, other.exe, sock)
	} else {
		ln, err := control.Listen(path)
		if err != nil {
			t.Fatal(err)
		}
		var n atomic.Int32
		done := make(chan struct{})
		go func() {
			defer close(done)
			control.Serve(ln, control.Spool{
				Replay: func(context.Context, spool.Selection) (spool.Replayed, error) { n.Add(1); return spool.Replayed{}, nil },
				Purge:  func(context.Context, ...spool.State) ([]int, error) { n.Add(1); return []int{0}, nil },
			})
		}()
		defer func() { ln.Close(); <-done }()
		if err := os.Chmod(sock, 0); err != nil {
			t.Fatal(err)
		}
		requests = func() int { return int(n.Load()) }
	}
	for _, cmd := range []string{"replay", "purge"} {
		args := []string{"events", cmd, "--dead", "--spool", path}
		out, err := runCmd(t, args...)
		// The whole command to run as that user, flags and all.
		want := []string{path + ": the spool is in use, and the control socket is not this user's to use: " + sock, sock, "nothing was changed",
			" dialpad-tunnel events " + cmd + " --spool " + path + " --dead)"}
		if other.exe != "" {
			want = append(want, "is served by "+osuser.Label(nobodyUID), "check the socket's owner: ls -l "+sock+")",
				"(run the command as that user: sudo -u "+osuser.Sudo(nobodyUID)+" dialpad-tunnel events "+cmd+" --spool "+path+" --dead)")
		} else {
			want = append(want, "; the socket is "+osuser.Possessive(os.Getuid())+", mode 0000: ", "(ls -l "+sock+")")
		}
		for _, w := range want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v\n%s\nwant an error saying %q", strings.Join(args, " "), err, out, w)
			}
		}
	}
	if n := requests(); n != 0 {
		t.Errorf("the socket this user may not use got %d request(s)", n)
	}
}

// plantSocket has nobody listen on sock (TestHelperOtherUserCLI's plant
// role) and returns a func that ends it and says how many connections
// sent it anything.
func plantSocket(t *testing.T, exe, sock string) func() int {
	t.Helper()
	cmd := helperAsNobody(exe, "plant")
	cmd.Env = append(cmd.Env, "DPT_HELPER_SOCK="+sock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewReader(out)
	if line, err := lines.ReadString('\n'); line != "listening\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("plant helper: %q, %v", line, err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return func() int {
		// The helper takes connections one at a time: by the time it
		// reads this one, it has read every one before.
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "END")
		c.Close()
		var n int
		if line, err := lines.ReadString('\n'); err != nil || !strings.HasPrefix(line, "requests ") {
			t.Fatalf("plant helper: %q, %v", line, err)
		} else if _, err := fmt.Sscanf(line, "requests %d", &n); err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, lines)
		cmd.Wait()
		return n
	}
}

// TestHelperOtherUserCLI is the other user's process of the tests above.
// With DPT_HELPER=cli it runs the CLI with the arguments in
// DPT_HELPER_ARGS (a JSON array) and prints a cliResult; with plant, it
// listens on DPT_HELPER_SOCK, says "listening", and counts the
// connections that send anything until one sends END, then prints
// "requests N".
func TestHelperOtherUserCLI(t *testing.T) {
	switch os.Getenv("DPT_HELPER") {
	case "cli":
		var args []string
		if err := json.Unmarshal([]byte(os.Getenv("DPT_HELPER_ARGS")), &args); err != nil {
			t.Fatal(err)
		}
		out, err := runCmd(t, args...)
		json.NewEncoder(os.Stdout).Encode(cliResult{Stdout: out, Err: fmt.Sprint(err), Code: exitCode(err)})
	case "plant":
		ln, err := net.Listen("unix", os.Getenv("DPT_HELPER_SOCK"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		fmt.Println("listening")
		n := 0
		for {
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c)
			c.Close()
			if string(got) == "END" {
				fmt.Printf("requests %d\n", n)
				return
			}
			if len(got) > 0 || errors.Is(err, os.ErrDeadlineExceeded) {
				n++
			}
		}
	default:
		t.Skip("helper of TestStatusOtherUsersListen and TestEventsOtherUsersSocket")
	}
}
