package setup_test

import (
	"os"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/setup"
)

// FuzzParse feeds setup files, which the user writes, to Parse: any input
// is a File or an error, never a panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"websocket: {secret_env: SECRET}\nsubscriptions: [{type: call}, {type: call}, {type: sms}, {type: contact}, {type: agent-status}]",
		"websocket: {}\nsubscription: []",
		"subscriptions:\n  - type: sms\n  - type: call\n    call_state: [hangup]\n",
		"subscriptions:\n  type: call\n",
		"websocket: {secret_env: SECRET}\nsubscriptions:\n",
		"subscriptions:\n  -\n",
		"<<: {subscriptions: [{type: call}]}\n",
		"a: &a {type: call}\nsubscriptions: [*a, *a]\n",
		"---\nsubscriptions: []\n---\nwebsocket: {}\n",
		"websocket: {id: 12, secret: \"s\"}\nsubscriptions: [{type: call, call_states: [hangup, ringing], target_type: office, target_id: 7}]\n",
	} {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile("../examples/setup.yaml"); err == nil {
		f.Add(b)
	}
	getenv := func(k string) string {
		if k == "SECRET" {
			return "from-env"
		}
		return ""
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := setup.Parse(data, getenv)
		if err != nil {
			return
		}
		for _, s := range file.Subscriptions {
			_ = s.Request(1)
		}
	})
}
