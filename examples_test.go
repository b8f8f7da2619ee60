package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
	"github.com/dialpad-tunnel/dialpad-tunnel/signing"
)

// exampleHandler is one of the handlers in examples/, running as its own
// process, as a user would run it from the repository root.
type exampleHandler struct {
	url            string // http://127.0.0.1:PORT/webhooks, from its first line
	stdout, stderr syncBuffer
}

var listeningLine = regexp.MustCompile(`listening on (http://\S+)`)

// startExample starts argv with env (DIALPAD_SECRET, HOST and PORT=0)
// added to this process's environment, on a free port (PORT=0: the
// handler binds, then prints the address it got, so no port is picked
// before it is free) and returns once it listens. The process is killed
// and reaped in t.Cleanup.
func startExample(t *testing.T, env []string, argv ...string) *exampleHandler {
	t.Helper()
	h := &exampleHandler{}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &h.stdout, &h.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", argv, err)
	}
	// This goroutine owns cmd.Wait; it ends when the process exits, which
	// the cleanup forces.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("%s stdout:\n%s\nstderr:\n%s", argv[len(argv)-1], h.stdout.String(), h.stderr.String())
		}
	})

	deadline := time.After(30 * time.Second)
	for {
		if m := listeningLine.FindStringSubmatch(h.stdout.String()); m != nil {
			h.url = m[1]
			return h
		}
		select {
		case <-h.stdout.notify():
		case err := <-exited:
			exited <- err
			t.Fatalf("%v exited before listening: %v\n%s%s", argv, err, h.stdout.String(), h.stderr.String())
		case <-deadline:
			t.Fatalf("%v did not listen within 30s:\n%s%s", argv, h.stdout.String(), h.stderr.String())
		}
	}
}

// exampleHandlers returns how to run each example handler, or why it can't
// run here.
func exampleHandlers() []struct{ name, skip string } {
	return []struct{ name, skip string }{
		{"go", ""},
		{"node", missing("node")},
		{"python", missing("python3")},
	}
}

func missing(tool string) string {
	if _, err := exec.LookPath(tool); err != nil {
		return tool + " is not on PATH"
	}
	return ""
}

// runExample starts the example handler called name with DIALPAD_SECRET
// set to secret, on a free loopback port.
// eachExample runs test as a subtest for each example handler, skipping
// those whose runtime this machine lacks.
func eachExample(t *testing.T, test func(t *testing.T, name string)) {
	for _, ex := range exampleHandlers() {
		t.Run(ex.name, func(t *testing.T) {
			if ex.skip != "" {
				t.Skip(ex.skip)
			}
			test(t, ex.name)
		})
	}
}

func runExample(t *testing.T, name, secret string) *exampleHandler {
	t.Helper()
	return runExampleEnv(t, name, []string{"DIALPAD_SECRET=" + secret, "HOST=127.0.0.1", "PORT=0"})
}

// runExampleEnv starts the example handler called name with env, as
// startExample does.
func runExampleEnv(t *testing.T, name string, env []string) *exampleHandler {
	t.Helper()
	switch name {
	case "go":
		bin := filepath.Join(t.TempDir(), "go-handler")
		if out, err := exec.Command("go", "build", "-o", bin, "./examples/go-handler").CombinedOutput(); err != nil {
			t.Fatalf("go build ./examples/go-handler: %v\n%s", err, out)
		}
		return startExample(t, env, bin)
	case "node":
		return startExample(t, env, "node", "examples/node-handler/server.js")
	default:
		return startExample(t, env, "python3", "examples/python-handler/handler.py")
	}
}

// expectedLine is the line every example prints for a verified event: the
// type it guesses and the event's state and id, ids printed exactly.
func expectedLine(t *testing.T, typ string, event []byte) string {
	t.Helper()
	var ev struct {
		CallID        json.Number `json:"call_id"`
		State         string      `json:"state"`
		ID            json.Number `json:"id"`
		Direction     string      `json:"direction"`
		MessageStatus string      `json:"message_status"`
		OnDutyStatus  string      `json:"on_duty_status"`
		Event         string      `json:"event"`
		Action        string      `json:"action"`
		Target        struct {
			ID json.Number `json:"id"`
		} `json:"target"`
		Contact struct {
			ID json.Number `json:"id"`
		} `json:"contact"`
	}
	dec := json.NewDecoder(bytes.NewReader(event))
	dec.UseNumber()
	if err := dec.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	switch typ {
	case "call":
		return fmt.Sprintf("[verified] call %s call_id=%s\n", ev.State, ev.CallID)
	case "sms":
		return fmt.Sprintf("[verified] sms %s %s id=%s\n", ev.Direction, ev.MessageStatus, ev.ID)
	case "agent_status":
		return fmt.Sprintf("[verified] agent_status %s agent_id=%s\n", ev.OnDutyStatus, ev.Target.ID)
	case "contact":
		return fmt.Sprintf("[verified] contact %s contact_id=%s\n", ev.Event, ev.Contact.ID)
	case "changelog":
		return fmt.Sprintf("[verified] changelog %s target_id=%s\n", ev.Action, ev.Target.ID)
	}
	t.Fatalf("no expected line for type %q", typ)
	return ""
}

// TestExampleHandlers runs each example handler as its own process behind
// the real agent: events published by the fake Dialpad on a websocket with
// a secret reach the handler as JWTs, which it verifies and prints. Frames
// a forger would send straight to the handler are refused.
func TestExampleHandlers(t *testing.T) {
	const secret = "example-handler-secret"
	eachExample(t, func(t *testing.T, name string) {
		h := runExample(t, name, secret)
		srv, wsID := fakeDialpad(t, dialpadtest.Config{}, secret)
		r := start(t, listenArgs(srv, wsID, h.url)...)
		r.waitConnected(t, srv, 1)

		type published struct {
			typ   string
			event []byte
		}
		gen := dialpadtest.NewGenerator(6)
		var events []published
		for _, ev := range gen.CallLifecycle() {
			events = append(events, published{"call", ev})
		}
		events = append(events,
			// an id above 2^53: a handler that parses it as a float prints another number
			published{"call", []byte(`{"call_id":9007199254740993,"state":"calling","direction":"inbound"}`)},
			published{"sms", gen.SMS()},
			published{"agent_status", gen.AgentStatus()},
			published{"contact", gen.Contact()},
			published{"changelog", gen.Changelog()},
		)
		for _, p := range events {
			if d := srv.Publish(p.typ, p.event); d.Frames != 1 {
				t.Fatalf("publish %s: %d frames sent, want 1", p.typ, d.Frames)
			}
		}
		for _, p := range events {
			h.stdout.waitFor(t, expectedLine(t, p.typ, p.event), 20*time.Second)
		}
		if n := strings.Count(h.stdout.String(), "[verified] "); n != len(events) {
			t.Errorf("handler printed %d verified events, want %d:\n%s", n, len(events), h.stdout.String())
		}
		if err := r.stop(t); err != nil {
			t.Fatalf("listen: %v", err)
		}
		if out := r.stdout.String(); strings.Contains(out, "FAILED") {
			t.Errorf("the agent reports failed deliveries:\n%s", out)
		}
		if s := h.stderr.String(); s != "" {
			t.Errorf("handler refused an event the agent forwarded:\n%s", s)
		}

		refused := strings.Count(h.stdout.String(), "\n")
		for _, tc := range exampleForgeries(t, secret) {
			if got := post(t, h.url, tc.body); got != tc.status {
				t.Errorf("%s: handler answered %d, want %d", tc.name, got, tc.status)
			}
		}
		if n := strings.Count(h.stdout.String(), "\n"); n != refused {
			t.Errorf("handler printed %d lines for refused requests:\n%s", n-refused, h.stdout.String())
		}
		// `doctor` sends HEAD: 405 on the handler's path and 404 off
		// it tell a wrong --forward-to path (the Python handler
		// answered 501 on every path, and doctor passed a wrong one).
		for url, want := range map[string]int{h.url: http.StatusMethodNotAllowed, h.url + "-elsewhere": http.StatusNotFound} {
			resp, err := http.Head(url)
			if err != nil {
				t.Fatalf("HEAD %s: %v", url, err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("HEAD %s: %d, want %d", url, resp.StatusCode, want)
			}
		}
	})
}

// exampleForgeries are bodies a handler must refuse, and the status it
// must answer: 401 when the signature or algorithm is wrong, 400 when the
// body is not an event.
func exampleForgeries(t *testing.T, secret string) []struct {
	name   string
	body   string
	status int
} {
	event := []byte(`{"call_id":1,"state":"hangup"}`)
	good, err := signing.SignHS256(event, secret)
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := signing.SignHS256(event, "not-"+secret)
	if err != nil {
		t.Fatal(err)
	}
	notJSON, err := signing.SignHS256([]byte("state=hangup"), secret)
	if err != nil {
		t.Fatal(err)
	}
	seg := strings.Split(good, ".")
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	hs512 := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{"call_id": 1, "state": "hangup"})
	hs512Token, err := hs512.SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return []struct {
		name   string
		body   string
		status int
	}{
		{"forged payload", seg[0] + "." + enc(`{"call_id":1,"state":"connected"}`) + "." + seg[2], http.StatusUnauthorized},
		// Forged all the same: the Go handler, whose JWT library reads the
		// payload before the signature, answered 400 as to a malformed token.
		{"forged payload that is not JSON", seg[0] + "." + enc(`state=connected`) + "." + seg[2], http.StatusUnauthorized},
		{"signed with another secret", wrong, http.StatusUnauthorized},
		{"alg none", enc(`{"alg":"none","typ":"JWT"}`) + "." + seg[1] + ".", http.StatusUnauthorized},
		{"HS512 with the right secret", hs512Token, http.StatusUnauthorized},
		{"unsigned JSON", string(event), http.StatusUnauthorized},
		{"truncated", good[:len(seg[0])+10], http.StatusBadRequest},
		{"not a JWT", "hello", http.StatusBadRequest},
		{"payload not JSON", notJSON, http.StatusBadRequest},
	}
}

// post sends body straight to the handler and returns the status.
func post(t *testing.T, url, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/jwt")
	req.Close = true // no idle connection left for goleak
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
