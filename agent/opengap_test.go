package agent

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad/dialpadtest"
)

// A gap still open when the agent stops (the connection lost, every
// reconnect failing since) is logged and counted as it stops: the next
// start's gap begins only when this run stopped reading, so the window
// from the loss to the stop was missed by both runs without a word. That
// holds for a stop that was asked for and for one forced by Dialpad
// refusing the refresh (the websocket deleted meanwhile).
func TestOpenGapLoggedAtStop(t *testing.T) {
	tests := []struct {
		name    string
		fail    func(t *testing.T, fake *dialpadtest.Server, client *dialpad.Client, wsID int64)
		wantErr bool
		wantWhy string
	}{
		{"stopped while reconnects fail", func(t *testing.T, fake *dialpadtest.Server, _ *dialpad.Client, _ int64) {
			fake.RefuseNextHandshakes(1_000_000, http.StatusServiceUnavailable)
			fake.DropConnectionsAbruptly()
		}, false, "connection lost without a close frame"},
		{"websocket deleted", func(t *testing.T, _ *dialpadtest.Server, client *dialpad.Client, wsID int64) {
			if _, err := client.DeleteWebsocket(context.Background(), dialpad.ID(wsID)); err != nil {
				t.Fatalf("DeleteWebsocket: %v", err)
			}
		}, true, "closed by server: 1000 websocket deleted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t, dialpadtest.Config{})
			wsID := fake.AddWebsocket("")
			addSub(t, fake, "sms", wsID)
			client := newClient(t, fake, fake.APIKey())
			recv := newReceiver(t, nil)
			r := startAgent(t, testConfig(), recv.url, WebsocketSource(client, dialpad.ID(wsID)))
			waitConns(t, fake, 1)

			lost := time.Now()
			tt.fail(t, fake, client, wsID)
			var err error
			if tt.wantErr {
				err = r.wait(t, testWait)
			} else {
				r.logs.waitFind(t, 1, "WARN", "connect failed")
				err = r.stop(t)
			}
			stopped := time.Now()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Run: %v, want an error: %v", err, tt.wantErr)
			}
			gaps := r.logs.find(t, "WARN", "events sent by Dialpad in this window were missed (no open connection)")
			if len(gaps) != 1 {
				t.Fatalf("%d gap warnings, want one for the window from the loss to the stop; log:\n%s", len(gaps), r.logs)
			}
			from, err1 := time.Parse(time.RFC3339Nano, gaps[0].str("from"))
			to, err2 := time.Parse(time.RFC3339Nano, gaps[0].str("to"))
			if err1 != nil || err2 != nil || from.Before(lost.Add(-time.Millisecond)) || to.Before(from) || to.After(stopped) {
				t.Errorf("gap from %q to %q, want a window between the loss at %s and the stop at %s",
					gaps[0].str("from"), gaps[0].str("to"), lost.Format(time.RFC3339Nano), stopped.Format(time.RFC3339Nano))
			}
			if why := gaps[0].str("why"); !strings.Contains(why, tt.wantWhy) {
				t.Errorf("gap why = %q, want it to say %q", why, tt.wantWhy)
			}
			if st := r.a.Stats(); st.Gaps != 1 {
				t.Errorf("Stats().Gaps = %d, want 1", st.Gaps)
			}
		})
	}
}
