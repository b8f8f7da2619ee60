package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/migrate"
	"github.com/urfave/cli/v2"

	"github.com/dialpad-tunnel/dialpad-tunnel/console"
)

// printRollbackPlan prints what a rollback of rec will do.
func printRollbackPlan(w io.Writer, rec migrate.Record, recordPath string) {
	if rec.CreateUnanswered() {
		fmt.Fprintf(w, "roll back the migration of webhook %s (record %s, %s): it was stopped while creating a websocket, before Dialpad answered, so no subscription moved:\n",
			rec.WebhookID, recordPath, rec.CreatedAt.Format(time.RFC3339))
		for _, s := range rec.Subscriptions {
			fmt.Fprintf(w, "  check    %s: still on webhook %s\n", s, s.EndpointID)
		}
		return
	}
	fmt.Fprintf(w, "roll back the migration of webhook %s (record %s, %s); a subscription no longer on websocket %s is left as it is:\n",
		rec.WebhookID, recordPath, rec.CreatedAt.Format(time.RFC3339), rec.WebsocketID)
	for _, s := range rec.Subscriptions {
		fmt.Fprintf(w, "  restore  %s: endpoint websocket %s → webhook %s\n", s, rec.WebsocketID, s.EndpointID)
	}
	if rec.WebsocketCreated {
		fmt.Fprintf(w, "  delete   websocket %s (created by migrate), once nothing uses it\n", rec.WebsocketID)
	}
}

// printRollback prints what a rollback did: what it restored, what is
// gone (with the command that makes each anew), what became of the
// websocket, and what may be left of a create that got no answer.
func printRollback(w io.Writer, c *cli.Context, rec migrate.Record, res migrate.RollbackResult, ok bool) {
	switch {
	case ok:
		fmt.Fprintf(w, "restored %d subscription(s); all %d match the record\n", len(res.Restored), len(rec.Subscriptions))
	case len(res.Restored) > 0:
		fmt.Fprintf(w, "restored %d subscription(s)\n", len(res.Restored))
	}
	for _, s := range res.Gone {
		fmt.Fprintf(w, "gone     %s: deleted on Dialpad since the migration; make it anew on webhook %s with\n           %s\n",
			s, s.EndpointID, recreateCommand(s, apiChoice(c)))
	}
	switch {
	case res.WebsocketDeleted:
		fmt.Fprintf(w, "deleted websocket %s\n", rec.WebsocketID)
	case res.WebsocketGone:
		fmt.Fprintf(w, "websocket %s is already gone (deleted on Dialpad since the migration, or by a rollback stopped before it retired the record)\n", rec.WebsocketID)
	case res.KeptBecause != "":
		fmt.Fprintf(w, "kept websocket %s: %s\n", rec.WebsocketID, res.KeptBecause)
	}
	if res.CreateUnanswered {
		fmt.Fprintf(w, "note: a websocket may have been created on Dialpad that no record names (migrate was stopped before the answer): "+
			"find it with %s (one that no subscription uses: see %s; migrate began creating it at %s, a time Dialpad does not show) and delete it with %s\n",
			commandLine(apiChoice(c), "websockets", "list"), commandLine(apiChoice(c), "subscriptions", "list"),
			rec.CreatedAt.Format(time.RFC3339), commandLine(apiChoice(c), "websockets", "delete", "ID"))
	}
}

// recreateCommand is the `subscriptions create` command line that makes
// s anew on its webhook, with every setting of the record.
func recreateCommand(s migrate.Snapshot, apiFlags []string) string {
	words := []string{"subscriptions", "create", "--type", string(s.Type), "--endpoint-id", s.EndpointID.String()}
	add := func(on bool, flag ...string) {
		if on {
			words = append(words, flag...)
		}
	}
	add(!s.Enabled, "--enabled=false")
	add(len(s.CallStates) > 0, "--call-states", console.ShellWord(strings.Join(s.CallStates, ",")))
	add(s.GroupCallsOnly, "--group-calls-only")
	add(s.TargetType != "", "--target-type", console.ShellWord(s.TargetType))
	add(s.TargetID != 0, "--target-id", s.TargetID.String())
	add(s.Direction != "", "--sms-direction", console.ShellWord(s.Direction))
	add(s.IncludeInternal, "--include-internal")
	add(s.Status, "--delivery-status")
	add(s.AgentType != "", "--agent-type", console.ShellWord(s.AgentType))
	add(s.ContactType != "", "--contact-type", console.ShellWord(s.ContactType))
	return commandLine(apiFlags, words...)
}
