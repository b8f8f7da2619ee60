package dialpad_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

func TestAPIErrorText(t *testing.T) {
	e := &dialpad.APIError{Op: "get websocket 1000", Status: 404, Message: "websocket not found"}
	if got, want := e.Error(), "dialpad: get websocket 1000: 404 Not Found: websocket not found"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e = &dialpad.APIError{Op: "list webhooks", Status: 503}
	if got, want := e.Error(), "dialpad: list webhooks: 503 Service Unavailable"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestBackoffBounds(t *testing.T) {
	lo, hi := 10*time.Millisecond, 100*time.Millisecond
	for attempt := range 40 {
		for range 20 {
			d := dialpad.Backoff(lo, hi, attempt, nil, time.Now())
			ceiling := min(hi, lo<<min(attempt+1, 20))
			if d < lo || d > ceiling {
				t.Fatalf("attempt %d: wait %s outside [%s, %s]", attempt, d, lo, ceiling)
			}
		}
	}
	if d := dialpad.Backoff(time.Second, 30*time.Second, 1000, nil, time.Now()); d < time.Second || d > 30*time.Second {
		t.Errorf("huge attempt: wait %s", d)
	}
}

func TestParseSubscriptionType(t *testing.T) {
	tests := []struct {
		in   string
		want dialpad.SubscriptionType
		ok   bool
	}{
		{"call", dialpad.Call, true},
		{"SMS", dialpad.SMS, true},
		{" agent_status ", dialpad.AgentStatus, true},
		{"agent-status", dialpad.AgentStatus, true},
		{"contact", dialpad.Contact, true},
		{"changelog", dialpad.Changelog, true},
		{"fax", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := dialpad.ParseSubscriptionType(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseSubscriptionType(%q) = %q, %v", tt.in, got, err)
		}
	}
	if n := len(dialpad.SubscriptionTypes()); n != 5 {
		t.Errorf("SubscriptionTypes has %d entries", n)
	}
}

func TestSecretsStayOutOfStrings(t *testing.T) {
	ws := dialpad.Websocket{ID: 1, URL: "wss://h/events/tok.en.sig", Signature: &dialpad.Signature{Algo: "HS256", Secret: "hush", Type: "jwt"}}
	wh := dialpad.Webhook{ID: 2, HookURL: "https://h/hook", Signature: &dialpad.Signature{Algo: "HS256", Secret: "hush", Type: "jwt"}}
	var logs logBuffer
	logs.logger().Info("endpoints", "ws", ws, "wh", wh, "sig", *ws.Signature)
	for _, s := range []string{fmt.Sprint(ws), fmt.Sprintf("%+v", wh), fmt.Sprint(ws.Signature), logs.String()} {
		if strings.Contains(s, "hush") || strings.Contains(s, "tok.en.sig") {
			t.Errorf("%q leaks a secret", s)
		}
	}
	if ws.Secret() != "hush" || (dialpad.Websocket{}).Secret() != "" || (dialpad.Webhook{}).Secret() != "" {
		t.Error("Secret() wrong")
	}
}

func TestIDJSON(t *testing.T) {
	tests := []struct {
		in   string
		want dialpad.ID
		ok   bool
	}{
		{`"123"`, 123, true},
		{`123`, 123, true},
		{`null`, 0, true},
		{`""`, 0, true},
		{`"9007199254740993"`, 9007199254740993, true},
		{`9007199254740993`, 9007199254740993, true},
		{`"abc"`, 0, false},
		{`1.5`, 0, false},
		{`true`, 0, false},
		{`"12a"`, 0, false},
	}
	for _, tt := range tests {
		var v struct {
			ID dialpad.ID `json:"id"`
		}
		err := json.Unmarshal([]byte(`{"id":`+tt.in+`}`), &v)
		if (err == nil) != tt.ok || (tt.ok && v.ID != tt.want) {
			t.Errorf("unmarshal %s = %d, %v", tt.in, v.ID, err)
		}
	}
	b, err := json.Marshal(struct {
		ID  dialpad.ID  `json:"id"`
		Ptr *dialpad.ID `json:"ptr"`
	}{9007199254740993, new(dialpad.ID(5))})
	if err != nil || string(b) != `{"id":9007199254740993,"ptr":5}` {
		t.Errorf("marshal = %s, %v", b, err)
	}
}

func TestParseID(t *testing.T) {
	tests := []struct {
		in   string
		want dialpad.ID
		ok   bool
	}{
		{"1000", 1000, true},
		{"9223372036854775807", 9223372036854775807, true},
		{"0", 0, false},
		{"-1", 0, false},
		{"", 0, false},
		{"1e3", 0, false},
		{"9223372036854775808", 0, false},
	}
	for _, tt := range tests {
		got, err := dialpad.ParseID(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseID(%q) = %d, %v", tt.in, got, err)
		}
		if tt.ok && got.String() != tt.in {
			t.Errorf("String() = %q, want %q", got.String(), tt.in)
		}
	}
}
