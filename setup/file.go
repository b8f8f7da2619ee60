// Package setup makes Dialpad match a declarative setup file: one websocket
// endpoint and its event subscriptions. It plans the changes, applies them,
// and records the ids it manages in a local state file, so that a second run
// changes nothing and a restart never creates duplicates.
package setup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"go.yaml.in/yaml/v3"
)

// File is a parsed and validated setup file (YAML). See
// examples/setup.yaml for the format.
type File struct {
	Websocket     WebsocketSpec      `yaml:"websocket"`
	Subscriptions []SubscriptionSpec `yaml:"subscriptions"`
}

// WebsocketSpec describes the websocket endpoint.
type WebsocketSpec struct {
	// ID adopts an existing websocket when the state file names none.
	ID dialpad.ID `yaml:"id"`
	// SecretEnv names the environment variable holding the signing secret.
	SecretEnv string `yaml:"secret_env"`
	// Secret is the signing secret; after Parse it also holds the value read
	// from SecretEnv. "" means events arrive as plain JSON. Never print it.
	Secret string `yaml:"secret"`
}

// SubscriptionSpec is one event subscription. Fields that do not apply to
// Type are refused by Parse; Normalize fills the defaults.
type SubscriptionSpec struct {
	// Name keys the subscription in the state file; default Key().
	Name            string                   `yaml:"name"`
	Type            dialpad.SubscriptionType `yaml:"type"`
	Enabled         *bool                    `yaml:"enabled"`
	CallStates      []string                 `yaml:"call_states"`
	GroupCallsOnly  bool                     `yaml:"group_calls_only"`
	TargetType      string                   `yaml:"target_type"`
	TargetID        dialpad.ID               `yaml:"target_id"`
	Direction       string                   `yaml:"direction"`
	IncludeInternal bool                     `yaml:"include_internal"`
	DeliveryStatus  bool                     `yaml:"delivery_status"`
	AgentType       string                   `yaml:"agent_type"`
	ContactType     string                   `yaml:"contact_type"`
}

// ParseFile reads the setup file at path and parses it as Parse does; its
// errors name the file.
func ParseFile(path string, getenv func(string) string) (File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("setup: %w", err)
	}
	f, err := parse(data, getenv)
	if err != nil {
		return f, fmt.Errorf("setup file %s: %w", path, err)
	}
	return f, nil
}

// Parse decodes and validates a setup file. getenv resolves secret_env
// (os.Getenv in the CLI). Unknown keys are an error, with the line and the
// keys allowed there. A file that sets neither websocket nor subscriptions
// is refused with an error wrapping ErrNothingDeclared.
func Parse(data []byte, getenv func(string) string) (File, error) {
	f, err := parse(data, getenv)
	if err != nil {
		return f, fmt.Errorf("setup file: %w", err)
	}
	return f, nil
}

// parse is Parse without the "setup file" its errors begin with.
func parse(data []byte, getenv func(string) string) (File, error) {
	var f File
	lines, err := checkShape(data)
	if err != nil {
		return f, err
	}
	// item names subscription i (from 0) in errors, with its line when
	// known: the values checked below have no line of their own.
	item := func(i int) string {
		if i < len(lines) {
			return fmt.Sprintf("line %d: subscription %d", lines[i], i+1)
		}
		return fmt.Sprintf("subscription %d", i+1)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return f, typeError(err)
	}
	ws := &f.Websocket
	if ws.ID < 0 { // 0 is "not given", as --websocket-id's
		return f, fmt.Errorf("websocket: id %d: want a positive id", ws.ID)
	}
	switch {
	case ws.SecretEnv != "" && ws.Secret != "":
		return f, errors.New("websocket: set secret or secret_env, not both")
	case ws.SecretEnv != "":
		ws.Secret = getenv(ws.SecretEnv)
		if ws.Secret == "" {
			return f, fmt.Errorf("websocket: secret_env %s is empty or unset", ws.SecretEnv)
		}
	}
	if strings.ContainsAny(ws.Secret, "\r\n") {
		return f, errors.New("websocket: the secret must be a single line")
	}
	count := map[dialpad.SubscriptionType]int{}
	keys := map[string]bool{}
	for i := range f.Subscriptions {
		s := &f.Subscriptions[i]
		t, err := dialpad.ParseSubscriptionType(string(s.Type))
		if err != nil {
			return f, fmt.Errorf("%s: %w", item(i), err)
		}
		s.Type = t
		if err := s.Normalize(); err != nil {
			return f, fmt.Errorf("%s (%s): %w", item(i), t, err)
		}
		count[t]++
		if s.Name == "" {
			s.Name = string(t)
			if count[t] > 1 {
				s.Name = fmt.Sprintf("%s#%d", t, count[t])
			}
		}
		if keys[s.Name] {
			return f, fmt.Errorf("%s: name %q is used twice", item(i), s.Name)
		}
		keys[s.Name] = true
	}
	return f, nil
}

// Normalize checks that every set field applies to s.Type, checks the
// enums (target_type against dialpad.TargetTypes, …) and that each of
// call_states looks like a call state (case and "-" for "_" forgiven, as
// --call-states forgives them), and fills the defaults: enabled
// true, call_states [all], direction all, agent_type callcenter,
// contact_type shared. A well-formed call state not in dialpad.CallStates
// is kept (Dialpad may have added it since; it decides): see
// UnknownCallStates.
func (s *SubscriptionSpec) Normalize() error {
	t := s.Type
	bad := func(field string, set bool, types ...dialpad.SubscriptionType) error {
		if set && !slices.Contains(types, t) {
			return fmt.Errorf("%s does not apply to %s subscriptions", field, t)
		}
		return nil
	}
	states, statesErr := callStates(s.CallStates)
	for _, err := range []error{
		bad("call_states", s.CallStates != nil, dialpad.Call),
		bad("group_calls_only", s.GroupCallsOnly, dialpad.Call),
		bad("target_type", s.TargetType != "", dialpad.Call, dialpad.SMS),
		bad("target_id", s.TargetID != 0, dialpad.Call, dialpad.SMS),
		bad("direction", s.Direction != "", dialpad.SMS),
		bad("include_internal", s.IncludeInternal, dialpad.SMS),
		bad("delivery_status", s.DeliveryStatus, dialpad.SMS),
		bad("agent_type", s.AgentType != "", dialpad.AgentStatus),
		bad("contact_type", s.ContactType != "", dialpad.Contact),
		statesErr,
		oneOf("target_type", s.TargetType, dialpad.TargetTypes()...),
		oneOf("direction", s.Direction, "all", "inbound", "outbound"),
		oneOf("agent_type", s.AgentType, "callcenter"),
		oneOf("contact_type", s.ContactType, "local", "shared"),
	} {
		if err != nil {
			return err
		}
	}
	if s.CallStates != nil {
		s.CallStates = states
	}
	if s.TargetID < 0 {
		return fmt.Errorf("target_id %d: want a positive id", s.TargetID)
	}
	if (s.TargetType == "") != (s.TargetID == 0) {
		return errors.New("target_type and target_id go together")
	}
	if s.Enabled == nil {
		s.Enabled = new(true)
	}
	switch t {
	case dialpad.Call:
		if len(s.CallStates) == 0 {
			s.CallStates = []string{"all"}
		}
	case dialpad.SMS:
		s.Direction = cmp(s.Direction, "all")
	case dialpad.AgentStatus:
		s.AgentType = cmp(s.AgentType, "callcenter")
	case dialpad.Contact:
		s.ContactType = cmp(s.ContactType, "shared")
	}
	return nil
}

func oneOf(field, v string, allowed ...string) error {
	if v != "" && !slices.Contains(allowed, v) {
		return fmt.Errorf("%s %q: want one of %s", field, v, strings.Join(allowed, ", "))
	}
	return nil
}

// callStates forgives case and "-" in each of vs, as --call-states does
// (dialpad.ForgiveCallState), drops repeats, and refuses a value that no
// call state looks like (empty, a space, …), with the state it may be a
// typo of.
func callStates(vs []string) ([]string, error) {
	var out []string
	for _, v := range vs {
		norm := dialpad.ForgiveCallState(v)
		if !dialpad.WellFormedCallState(norm) {
			return nil, fmt.Errorf("call_states %q: not a call state (lower-case words joined by _, such as voicemail_uploaded)%s; known states: %s", v, dialpad.CallStateHint(norm), strings.Join(dialpad.CallStates(), ", "))
		}
		if !slices.Contains(out, norm) {
			out = append(out, norm)
		}
	}
	return out, nil
}

// UnknownCallStates are the states of s.CallStates that this version does
// not know: well formed (Normalize refuses the others), they may be ones
// Dialpad added since, or typos.
func (s SubscriptionSpec) UnknownCallStates() []string {
	return dialpad.UnknownCallStates(s.CallStates)
}

// Warnings are notes on f that do not stop it from being applied: each
// call state this version does not know, which is sent to Dialpad as
// given, with the known state it may be a typo of.
func (f File) Warnings() []string {
	var out []string
	for i, s := range f.Subscriptions {
		for _, v := range s.UnknownCallStates() {
			out = append(out, fmt.Sprintf("subscription %d (%s): call_states %q is not a call state this version of dialpad-tunnel knows: it is sent to Dialpad as given, which refuses it unless it is a state added since%s", i+1, s.Type, v, dialpad.CallStateHint(v)))
		}
	}
	return out
}

func cmp(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Request is the full create or update body for s delivering to endpoint.
// s must be normalized.
func (s SubscriptionSpec) Request(endpoint dialpad.ID) dialpad.SubscriptionRequest {
	r := dialpad.SubscriptionRequest{EndpointID: &endpoint, Enabled: s.Enabled}
	switch s.Type {
	case dialpad.Call:
		r.CallStates = slices.Clone(s.CallStates)
		r.GroupCallsOnly = new(s.GroupCallsOnly)
	case dialpad.SMS:
		r.Direction = s.Direction
		r.IncludeInternal = new(s.IncludeInternal)
		r.Status = new(s.DeliveryStatus)
	case dialpad.AgentStatus:
		r.AgentType = s.AgentType
	case dialpad.Contact:
		r.ContactType = s.ContactType
	}
	if s.TargetID != 0 {
		r.TargetType, r.TargetID = s.TargetType, new(s.TargetID)
	}
	return r
}
