package control

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dialpad-tunnel/dialpad-tunnel/osuser"
)

// notPermitted says that this user may not connect to sock, names its
// owner where that can be told (else its folder's: a folder of mode 0700,
// such as a service's StateDirectory, hides the socket itself), and what to
// do. Whether an agent listens there cannot be told from here: the socket
// may be a crashed one's, or not be there at all.
func notPermitted(sock string) string {
	msg := sock + ": permission denied to " + thisUser()
	uid, known := -1, false
	fi, err := os.Lstat(sock)
	if err == nil {
		if uid, known = fileOwner(fi); known {
			msg += "; the socket is " + osuser.Possessive(uid)
		}
	} else if errors.Is(err, fs.ErrPermission) {
		dir := filepath.Dir(sock)
		if dfi, err := os.Lstat(dir); err == nil {
			if uid, known = fileOwner(dfi); known {
				msg += fmt.Sprintf("; its folder %s is %s, and this user may not look in it", dir, osuser.Possessive(uid))
			}
		}
	}
	if !known || uid == os.Getuid() {
		return msg + ": a listen of another user may hold the spool, or one that crashed left the socket: run the command as the user the listen runs as (sudo -u USER dialpad-tunnel …), or check the socket's owner and mode (ls -l " + sock + ")"
	}
	return msg + fmt.Sprintf(": a listen of %s may hold the spool, or one that crashed left the socket: run the command as that user (sudo -u %s dialpad-tunnel …), or check the socket's owner (ls -l %s)", osuser.Label(uid), osuser.Sudo(uid), sock)
}

// thisUser names this process's user, by uid where there is one.
func thisUser() string {
	if uid := os.Getuid(); uid >= 0 {
		return fmt.Sprintf("this user (uid %d)", uid)
	}
	return "this user"
}
