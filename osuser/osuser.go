// Package osuser names a user, given by uid, in a message: by name where
// the uid has one, with the uid, and as sudo -u takes it.
package osuser

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
)

// name is the user name of uid; "" when none goes with it.
func name(uid int) string {
	if uid < 0 {
		return ""
	}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return ""
}

// Possessive is "dialpad's (uid 998)", "uid 998's" when no user name goes
// with the uid, or "another user's" when it is not known (below 0).
func Possessive(uid int) string {
	if uid < 0 {
		return "another user's"
	}
	if n := name(uid); n != "" {
		return fmt.Sprintf("%s's (uid %d)", n, uid)
	}
	return fmt.Sprintf("uid %d's", uid)
}

// Label is "dialpad (uid 998)", or "uid 998" when no user name goes with
// the uid.
func Label(uid int) string {
	if n := name(uid); n != "" {
		return fmt.Sprintf("%s (uid %d)", n, uid)
	}
	return fmt.Sprintf("uid %d", uid)
}

// Sudo is uid as sudo -u takes it, to paste in a shell: its name, else
// '#uid'.
func Sudo(uid int) string {
	if n := name(uid); n != "" && safeName(n) {
		return n
	}
	return fmt.Sprintf("'#%d'", uid)
}

// safeName reports whether name can be pasted in a shell as it is.
func safeName(name string) bool {
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return name[0] != '-'
}

// This names this process's user, by uid where there is one: "this user
// (uid 1000)".
func This() string {
	if uid := os.Getuid(); uid >= 0 {
		return fmt.Sprintf("this user (uid %d)", uid)
	}
	return "this user"
}
