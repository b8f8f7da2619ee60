package osuser

import (
	"fmt"
	"os/user"
	"strconv"
	"testing"
)

// TestNames: a uid with a user name is named by it, with the uid; one
// without is named by its uid, and sudo -u takes it as '#uid'; a name
// that is not safe to paste in a shell is never given to sudo as it is.
func TestNames(t *testing.T) {
	if got := Possessive(-1); got != "another user's" {
		t.Errorf("Possessive(-1) = %q", got)
	}
	const nobody = 2147483000 // no account has it
	if _, err := user.LookupId(strconv.Itoa(nobody)); err == nil {
		t.Skipf("uid %d has an account here", nobody)
	}
	for _, c := range [][2]string{
		{Possessive(nobody), fmt.Sprintf("uid %d's", nobody)},
		{Label(nobody), fmt.Sprintf("uid %d", nobody)},
		{Sudo(nobody), fmt.Sprintf("'#%d'", nobody)},
	} {
		if c[0] != c[1] {
			t.Errorf("got %q, want %q", c[0], c[1])
		}
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		uid, _ := strconv.Atoi(u.Uid)
		if want := fmt.Sprintf("%s (uid %d)", u.Username, uid); Label(uid) != want {
			t.Errorf("Label(%d) = %q, want %q", uid, Label(uid), want)
		}
	}
	for name, safe := range map[string]bool{"dialpad-tunnel": true, "svc.user_1": true, "-rf": false, "a b": false, "x;y": false, "o'k": false} {
		if safeName(name) != safe {
			t.Errorf("safeName(%q) = %t, want %t", name, !safe, safe)
		}
	}
}
