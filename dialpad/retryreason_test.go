package dialpad

import (
	"errors"
	"net/url"
	"testing"
)

// TestRetryReasonRedactsKeyAsToken: the retry log line's error keeps a
// short key's letters inside words ("lookup" with the key "k" was logged
// as "looxxxxxup") and hides the key itself.
func TestRetryReasonRedactsKeyAsToken(t *testing.T) {
	err := &url.Error{Op: "Get", URL: "https://dialpad.com/api/v2/websockets/1?key=k", Err: errors.New("dial tcp: lookup dialpad.com: no such host (k)")}
	if got, want := retryReason(err, "k"), "dial tcp: lookup dialpad.com: no such host (xxxxx)"; got != want {
		t.Errorf("retryReason = %q, want %q", got, want)
	}
}
