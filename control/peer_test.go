//go:build linux

package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/osuser"
	"github.com/dialpad-tunnel/dialpad-tunnel/spool"
)

// otherUID is the user the helper process of TestOtherUsersSocket runs as.
const otherUID = 65534 // nobody

// TestOtherUsersSocket: with the spool in a folder every user may write
// to (/tmp), another user can make `<spool>.ctl` before listen does (its
// Listen then fails, and listen goes on without one). `events replay`
// must not take that socket for the listen's: it sends it no request and
// takes no answer from it, and its error is ErrOtherUser, not ErrNoAgent
// (which made status say that no listen runs). And a listen whose socket
// was made open to others answers no request of theirs. It needs root, to
// run a process as another user.
func TestOtherUsersSocket(t *testing.T) {
	if runtime.GOOS != "linux" || os.Getuid() != 0 {
		t.Skip("needs root on Linux, to run a process as another user")
	}
	shared, err := os.MkdirTemp("", "shared")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shared) })
	if err := os.Chmod(shared, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	exe := copyTestBinary(t, shared) // where the other user may run it

	t.Run("ask", func(t *testing.T) {
		path := filepath.Join(shared, "ask.spool")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		helper := startHelper(t, exe, "serve", path+Suffix)
		resp, err := Ask(context.Background(), path, Request{Op: "replay", IDs: []string{"abcdefgh"}})
		if err == nil {
			t.Errorf("Ask took the answer of uid %d's socket: %+v", otherUID, resp)
		} else if !errors.Is(err, ErrOtherUser) || errors.Is(err, ErrNoAgent) || !strings.Contains(err.Error(), path+Suffix+" is served by "+osuser.Label(otherUID)) ||
			!strings.Contains(err.Error(), "check the socket's owner: ls -l "+path+Suffix+")") {
			// Not "no agent": status would say no listen runs.
			t.Errorf("Ask = %v, want ErrOtherUser (not ErrNoAgent) naming the socket and uid %d, and the ls -l to check it", err, otherUID)
		}
		helper.Process.Kill()
		helper.Wait()
	})

	t.Run("serve", func(t *testing.T) {
		path := filepath.Join(shared, "serve.spool")
		ln, err := Listen(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path+Suffix, 0o666); err != nil { // made open
			t.Fatal(err)
		}
		asked := make(chan struct{}, 1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			Serve(ln, Spool{
				Replay: func(context.Context, spool.Selection) (spool.Replayed, error) {
					asked <- struct{}{}
					return spool.Replayed{N: 1}, nil
				},
				Purge: func(context.Context, ...spool.State) ([]int, error) { asked <- struct{}{}; return nil, nil },
			})
		}()
		helper := startHelper(t, exe, "ask", path+Suffix)
		err = helper.Wait()
		ln.Close()
		<-done
		select {
		case <-asked:
			t.Errorf("a request of uid %d was carried out", otherUID)
		default:
		}
		if err == nil {
			t.Errorf("uid %d's request was answered without an error", otherUID)
		}
	})
}

// startHelper runs exe, this test binary, as otherUID, as TestHelperOtherUser
// in mode with sock, and waits, for mode "serve", until it listens.
func startHelper(t *testing.T, exe, mode, sock string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(exe, "-test.run=^TestHelperOtherUser$")
	cmd.Env = append(os.Environ(), "CONTROL_HELPER="+mode, "CONTROL_HELPER_SOCK="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: otherUID, Gid: otherUID}}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if mode == "serve" {
		line, err := bufio.NewReader(out).ReadString('\n')
		if line != "listening\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("helper: %q, %v", line, err)
		}
	}
	return cmd
}

// TestHelperOtherUser is the other user's process of TestOtherUsersSocket:
// with CONTROL_HELPER=serve it answers every request on the socket as a
// listen would; with ask, it sends a replay request and fails unless it
// was carried out.
func TestHelperOtherUser(t *testing.T) {
	sock := os.Getenv("CONTROL_HELPER_SOCK")
	switch os.Getenv("CONTROL_HELPER") {
	case "serve":
		ln, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		fmt.Println("listening")
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			var req Request
			json.NewDecoder(c).Decode(&req)
			json.NewEncoder(c).Encode(Response{Replayed: 99})
			c.Close()
		}
	case "ask":
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		json.NewEncoder(c).Encode(Request{Op: "replay", Dead: true})
		var resp Response
		if err := json.NewDecoder(c).Decode(&resp); err != nil || resp.Error != "" {
			t.Fatalf("refused: %+v, %v", resp, err)
		}
	default:
		t.Skip("helper of TestOtherUsersSocket")
	}
}
