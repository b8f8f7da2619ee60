package main

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/setup"
	"github.com/urfave/cli/v2"
)

// subscriptionOptions maps each subscription option flag to the types it
// applies to (API.md §3).
var subscriptionOptions = map[string][]dialpad.SubscriptionType{
	"call-states":      {dialpad.Call},
	"group-calls-only": {dialpad.Call},
	"target-type":      {dialpad.Call, dialpad.SMS},
	"target-id":        {dialpad.Call, dialpad.SMS},
	"sms-direction":    {dialpad.SMS},
	"include-internal": {dialpad.SMS},
	"delivery-status":  {dialpad.SMS},
	"agent-type":       {dialpad.AgentStatus},
	"contact-type":     {dialpad.Contact},
}

// subscriptionFlags are the options of an event subscription, shared by
// `listen --create` and `subscriptions create|update`.
func subscriptionFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "call-states", Usage: "call: states to receive, e.g. calling,hangup (default all)"},
		&cli.BoolFlag{Name: "group-calls-only", Usage: "call: only calls to groups (departments, call centres, …)"},
		&cli.StringFlag{Name: "target-type", Usage: "call, sms: only events of one target: office, department, callcenter, user, … (with --target-id)"},
		&cli.Int64Flag{Name: "target-id", Usage: "call, sms: id of that target"},
		&cli.StringFlag{Name: "sms-direction", Usage: "sms: all, inbound or outbound (default all)"},
		&cli.BoolFlag{Name: "include-internal", Usage: "sms: also messages between users of the company"},
		&cli.BoolFlag{Name: "delivery-status", Usage: "sms: also delivery-status events"},
		&cli.StringFlag{Name: "agent-type", Usage: "agent_status: callcenter (the only value, the default)"},
		&cli.StringFlag{Name: "contact-type", Usage: "contact: local or shared (default shared)"},
	}
}

// specsFromFlags builds one normalized subscription spec per type from the
// option flags; a flag set for none of the types is an error.
func specsFromFlags(c *cli.Context, types []dialpad.SubscriptionType) ([]setup.SubscriptionSpec, error) {
	for name, applies := range subscriptionOptions {
		if c.IsSet(name) && !slices.ContainsFunc(types, func(t dialpad.SubscriptionType) bool { return slices.Contains(applies, t) }) {
			return nil, fmt.Errorf("--%s applies to %s subscriptions only", name, typeNames(applies))
		}
	}
	var specs []setup.SubscriptionSpec
	for _, t := range types {
		s := setup.SubscriptionSpec{Type: t}
		set := func(name string) bool { return c.IsSet(name) && slices.Contains(subscriptionOptions[name], t) }
		if set("call-states") {
			states, err := parseCallStates(c.StringSlice("call-states"))
			if err != nil {
				return nil, err
			}
			s.CallStates = states
		}
		if set("target-type") {
			s.TargetType = c.String("target-type")
		}
		if set("target-id") {
			s.TargetID = dialpad.ID(c.Int64("target-id"))
		}
		s.GroupCallsOnly = set("group-calls-only") && c.Bool("group-calls-only")
		s.IncludeInternal = set("include-internal") && c.Bool("include-internal")
		s.DeliveryStatus = set("delivery-status") && c.Bool("delivery-status")
		if set("sms-direction") {
			s.Direction = c.String("sms-direction")
		}
		if set("agent-type") {
			s.AgentType = c.String("agent-type")
		}
		if set("contact-type") {
			s.ContactType = c.String("contact-type")
		}
		if err := s.Normalize(); err != nil {
			// Normalize names the setup file's keys: name the flags.
			return nil, fmt.Errorf("%s subscription: %s", t, specFlagNames.Replace(err.Error()))
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// specFlagNames turns the setup file's keys in SubscriptionSpec.Normalize's
// errors into the flags that set them.
var specFlagNames = strings.NewReplacer(
	"call_states", "--call-states", "group_calls_only", "--group-calls-only",
	"target_type", "--target-type", "target_id", "--target-id", "direction", "--sms-direction",
	"include_internal", "--include-internal", "delivery_status", "--delivery-status",
	"agent_type", "--agent-type", "contact_type", "--contact-type")

// partialRequest is an update body holding only the flags given.
func partialRequest(c *cli.Context, typ dialpad.SubscriptionType) (dialpad.SubscriptionRequest, error) {
	var r dialpad.SubscriptionRequest
	for name, applies := range subscriptionOptions {
		if c.IsSet(name) && !slices.Contains(applies, typ) {
			return r, fmt.Errorf("--%s applies to %s subscriptions only", name, typeNames(applies))
		}
	}
	if c.IsSet("endpoint-id") {
		r.EndpointID = new(dialpad.ID(c.Int64("endpoint-id")))
	}
	if c.IsSet("enabled") {
		r.Enabled = new(c.Bool("enabled"))
	}
	if c.IsSet("call-states") {
		states, err := parseCallStates(c.StringSlice("call-states"))
		if err != nil {
			return r, err
		}
		r.CallStates = states
	}
	if c.IsSet("group-calls-only") {
		r.GroupCallsOnly = new(c.Bool("group-calls-only"))
	}
	if c.IsSet("target-type") && !c.IsSet("target-id") {
		// Sent only with an id, it would be dropped without a word.
		return r, fmt.Errorf("--target-type and --target-id go together: pass both (e.g. --target-type %s --target-id 123)", clip(c.String("target-type"), 20))
	}
	if c.IsSet("target-id") && !c.IsSet("target-type") {
		// Sent alone, it gave the subscription a target of no type.
		return r, fmt.Errorf("--target-type and --target-id go together: pass both (e.g. --target-type office --target-id %d)", c.Int64("target-id"))
	}
	if id := c.Int64("target-id"); c.IsSet("target-id") && id <= 0 {
		return r, fmt.Errorf("--target-id %d: want a positive id", id)
	}
	// create checks these through setup's Normalize; an update sent them
	// to Dialpad as given.
	for _, f := range []struct {
		flag    string
		allowed []string
	}{
		{"target-type", dialpad.TargetTypes()},
		{"sms-direction", []string{"all", "inbound", "outbound"}},
		{"agent-type", []string{"callcenter"}},
		{"contact-type", []string{"local", "shared"}},
	} {
		if v := c.String(f.flag); c.IsSet(f.flag) && !slices.Contains(f.allowed, v) {
			return r, fmt.Errorf("--%s %q: want one of %s", f.flag, clip(v, 40), strings.Join(f.allowed, ", "))
		}
	}
	if c.IsSet("target-id") {
		r.TargetType, r.TargetID = c.String("target-type"), new(dialpad.ID(c.Int64("target-id")))
	}
	if c.IsSet("include-internal") {
		r.IncludeInternal = new(c.Bool("include-internal"))
	}
	if c.IsSet("delivery-status") {
		r.Status = new(c.Bool("delivery-status"))
	}
	r.Direction, r.AgentType, r.ContactType = c.String("sms-direction"), c.String("agent-type"), c.String("contact-type")
	return r, nil
}

// parseCallStates parses --call-states (repeated, comma-separated; case
// and "-" for "_" are forgiven, as in a setup file: dialpad.ForgiveCallState). What no call state looks like (a space,
// punctuation) is an error. A well-formed state this version does not know
// is kept: Dialpad may have added it since. The caller warns of it (see
// unknownCallState): as a filter it matches no event unless Dialpad sends
// it.
func parseCallStates(list []string) ([]string, error) {
	var out []string
	for _, s := range splitList(list) {
		norm := dialpad.ForgiveCallState(s)
		if !dialpad.WellFormedCallState(norm) {
			return nil, fmt.Errorf("--call-states %q: not a call state (lower-case words joined by _, such as voicemail_uploaded)%s; known states: %s", clip(s, 40), dialpad.CallStateHint(norm), strings.Join(dialpad.CallStates(), ", "))
		}
		if !slices.Contains(out, norm) {
			out = append(out, norm)
		}
	}
	return out, nil
}

// unknownCallState says that state is not one this version knows, and
// names the known state it may be a typo of.
func unknownCallState(flag, state, consequence string) string {
	return fmt.Sprintf("%s %q is not a call state this version of dialpad-tunnel knows: %s%s", flag, state, consequence, dialpad.CallStateHint(state))
}

// warnSentCallStates writes to stderr a warning for each state of
// --call-states that this version does not know, which a subscriptions
// command sends to Dialpad as given.
func warnSentCallStates(c *cli.Context) {
	if !c.IsSet("call-states") {
		return
	}
	states, err := parseCallStates(c.StringSlice("call-states"))
	if err != nil {
		return // refused by the caller's own parse
	}
	for _, s := range dialpad.UnknownCallStates(states) {
		fmt.Fprintln(c.App.ErrWriter, "warning: "+unknownCallState("--call-states", s, "it is sent to Dialpad as given, which refuses it unless it is a state added since"))
	}
}

// warnUnknownCallStates logs a warning at start for each state of
// --call-states, a filter, that this version does not know: it is kept
// (Dialpad may have added it since), but matches no call event unless
// Dialpad sends that state.
func warnUnknownCallStates(c *cli.Context, states []string, log *slog.Logger) {
	for _, s := range dialpad.UnknownCallStates(states) {
		log.Warn(unknownCallState(flagLabel(c, "call-states"), s, "it filters as given, so it matches no call event unless Dialpad sends that state (one added since this version)"), "state", s)
	}
}

// parseTypes parses a list such as ["call", "sms"] (commas allowed inside).
func parseTypes(list []string) ([]dialpad.SubscriptionType, error) {
	var out []dialpad.SubscriptionType
	for _, item := range list {
		for name := range strings.SplitSeq(item, ",") {
			if strings.TrimSpace(name) == "" {
				continue
			}
			if isAll(name) {
				for _, t := range dialpad.SubscriptionTypes() {
					if !slices.Contains(out, t) {
						out = append(out, t)
					}
				}
				continue
			}
			t, err := dialpad.ParseSubscriptionType(name)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out, nil
}

// isAll reports whether an --events item is "all", every event type.
func isAll(name string) bool { return strings.EqualFold(strings.TrimSpace(name), "all") }

func typeNames(types []dialpad.SubscriptionType) string {
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = string(t)
	}
	return strings.Join(names, " and ")
}
