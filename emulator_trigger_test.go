package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// TestTriggerSaysWebhookPOSTsFailed: when a webhook subscribed to the type
// answers no 2xx, trigger says that its POSTs failed, not that nobody
// received the events because listen is not connected.
func TestTriggerSaysWebhookPOSTsFailed(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	h := newHook(t, func(int) int { return http.StatusUnauthorized }) // an example handler with another secret
	if _, err := srv.AddSubscription("sms", srv.AddWebhook(h.URL, "s"), dialpadtest.SubscriptionOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := apiCmd(t, srv, "trigger", "sms")
	if err != nil {
		t.Fatalf("trigger: %v\n%s", err, out)
	}
	h.waitRequests(t, 1, 10*time.Second)
	mustContain(t, out, "triggered sms: 1 event(s), 0 websocket frame(s), 0 webhook POST(s)\n")
	mustContain(t, out, "1 webhook POST(s) failed")
	if strings.Contains(out, "is `dialpad-tunnel listen` connected") {
		t.Errorf("trigger blames listen for a webhook that refused the event:\n%s", out)
	}
}

// TestTriggerSlowWebhookIsNotEmulatorDown: a webhook that does not answer
// holds up the emulator's answer (up to 5s a POST) beyond trigger's 10s;
// trigger says so rather than ask whether the emulator is running.
func TestTriggerSlowWebhookIsNotEmulatorDown(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // then a client that gives up ends r's context
		select {
		case <-release:
		case <-r.Context().Done(): // the fake gives up after its webhook timeout
		}
	}))
	defer slow.Close()
	defer close(release) // the rest of the lifecycle goes out at once
	if _, err := srv.AddSubscription("call", srv.AddWebhook(slow.URL, ""), dialpadtest.SubscriptionOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := apiCmd(t, srv, "trigger", "call") // a call lifecycle: several events, 5s each
	if err == nil {
		t.Fatalf("trigger call with a webhook that never answers: no error\n%s", out)
	}
	if strings.Contains(err.Error(), "is the emulator running") {
		t.Errorf("error %q, want it to say the emulator is waiting for a webhook, not that it may be down", err)
	}
	mustContain(t, err.Error(), "webhook")
}

// TestEmulatorPrintsPastableCommands: the listen and trigger lines the
// emulator prints work when pasted into a shell, also with an --api-key
// that holds a space or a quote, and give the key in DIALPAD_API_KEY, not
// as an argument: they put it after --api-key, in the process list.
func TestEmulatorPrintsPastableCommands(t *testing.T) {
	const key = "my key's"
	r := start(t, "emulator", "--addr", "127.0.0.1:0", "--api-key", key)
	r.stdout.waitFor(t, "Ctrl-C stops it.", 10*time.Second)
	out := r.stdout.String()
	mustContain(t, out, "events        plain JSON (no --secret: a handler that verifies DIALPAD_SECRET refuses them)") // it says whether they are signed
	// A dialpad-tunnel on PATH that prints its environment's key and its
	// arguments, for the lines pasted into a shell.
	sh, shErr := exec.LookPath("sh")
	bin := t.TempDir()
	if shErr == nil {
		if err := os.WriteFile(filepath.Join(bin, "dialpad-tunnel"), []byte("#!"+sh+"\nprintf '%s\\n' \"$DIALPAD_API_KEY\" \"$@\"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		for _, cmd := range []string{"listen", "trigger"} {
			if !strings.HasPrefix(line, cmd+":") {
				continue
			}
			mustContain(t, line, `DIALPAD_API_KEY='my key'\''s' dialpad-tunnel `+cmd+" ")
			if strings.Contains(line, "--api-key") {
				t.Errorf("%s line puts the key on the command line: %s", cmd, line)
			}
			if shErr != nil {
				continue
			}
			paste := exec.Command(sh, "-c", strings.TrimSpace(strings.TrimPrefix(line, cmd+":")))
			paste.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "DIALPAD_API_KEY=")
			got, err := paste.Output()
			if args := strings.Split(string(got), "\n"); err != nil || args[0] != key || args[1] != cmd || slices.Contains(args[1:], key) {
				t.Errorf("%s line in sh: %v\n%s\nwant the key %q in DIALPAD_API_KEY only", cmd, err, got, key)
			}
		}
		if strings.HasPrefix(line, "or:") {
			mustContain(t, line, `DIALPAD_API_KEY='my key'\''s'`)
		}
	}
	mustContain(t, out, "or:       export DIALPAD_API_BASE=")
	if err := r.stop(t); err != nil {
		t.Fatalf("emulator: %v", err)
	}
}

// TestEmulatorRefusesEmptySecret: `emulator --secret "$S"` with S unset
// is refused, as for listen --create and websockets create, rather than
// serving plain JSON events a handler with DIALPAD_SECRET refuses.
func TestEmulatorRefusesEmptySecret(t *testing.T) {
	for _, args := range [][]string{{"--secret", ""}, {"--secret="}} {
		r := start(t, append([]string{"emulator", "--addr", "127.0.0.1:0"}, args...)...)
		err := r.wait(t, 10*time.Second) // an emulator that started runs until stopped
		if err == nil || !strings.HasPrefix(err.Error(), "--secret is empty") {
			t.Errorf("emulator %q: %v, want --secret refused as empty", args, err)
		}
	}
}

// TestEmulatorAddrNamed: an --addr in use, or not an address, is refused
// with the flag named, as listen's --metrics-addr is; it said only
// "dialpadtest: listen: …".
func TestEmulatorAddrNamed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, addr := range []string{ln.Addr().String(), "127.0.0.1:99999"} {
		r := start(t, "emulator", "--addr", addr)
		err := r.wait(t, 10*time.Second) // an emulator that started runs until stopped
		if err == nil || !strings.HasPrefix(err.Error(), fmt.Sprintf("--addr %q: ", addr)) {
			t.Errorf("emulator --addr %s: %v, want the error to name --addr", addr, err)
		}
	}
}

// TestTriggerSaysNoSubscription: events of a type no enabled subscription
// takes reach nobody whatever listen does; trigger says what is missing
// (and how to make it), where it asked whether listen was connected. With
// a subscription and nobody listening, it still asks that.
func TestTriggerSaysNoSubscription(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	wsID := srv.AddWebsocket("")
	out, err := apiCmd(t, srv, "trigger", "sms")
	if err != nil {
		t.Fatalf("trigger: %v\n%s", err, out)
	}
	mustContain(t, out, "no enabled sms subscription takes them")
	mustContain(t, out, "subscriptions create --type sms --endpoint-id <websocket id>")
	if _, err := srv.AddSubscription("sms", wsID, dialpadtest.SubscriptionOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err = apiCmd(t, srv, "trigger", "sms")
	if err != nil {
		t.Fatalf("trigger: %v\n%s", err, out)
	}
	mustContain(t, out, "is `dialpad-tunnel listen` connected")
}

// TestTriggerSaysNobodyReceivedOnce: events nobody received are named
// once, after every "triggered" line, not under each of them (with
// --count 3 sms contact it asked six times whether listen was connected).
func TestTriggerSaysNobodyReceivedOnce(t *testing.T) {
	srv := newFake(t, dialpadtest.Config{})
	if _, err := srv.AddWebsocketForAll(""); err != nil {
		t.Fatal(err)
	}
	out, err := apiCmd(t, srv, "trigger", "--count", "3", "sms", "contact")
	if err != nil {
		t.Fatalf("trigger: %v\n%s", err, out)
	}
	want := strings.Repeat("triggered sms: 1 event(s), 0 websocket frame(s), 0 webhook POST(s)\n", 3) +
		strings.Repeat("triggered contact: 1 event(s), 0 websocket frame(s), 0 webhook POST(s)\n", 3) +
		"nobody received the 6 sms, contact events: is `dialpad-tunnel listen` connected to the emulator?\n"
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}

	// No subscription takes them: said once for the type.
	srv = newFake(t, dialpadtest.Config{})
	srv.AddWebsocket("")
	out, err = apiCmd(t, srv, "trigger", "--count", "2", "sms")
	if err != nil {
		t.Fatalf("trigger: %v\n%s", err, out)
	}
	want = strings.Repeat("triggered sms: 1 event(s), 0 websocket frame(s), 0 webhook POST(s)\n", 2) +
		"nobody received the 2 sms events: no enabled sms subscription takes them (`dialpad-tunnel subscriptions list --type sms`; `subscriptions create --type sms --endpoint-id <websocket id>` makes one)\n"
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}
