//go:build !unix

package control

import "os"

// maxSockLen is the longest path a unix socket may have: sun_path less
// its NUL.
const maxSockLen = 107

// userDirName names this user's directory of control sockets under
// os.TempDir (per user already where there is no uid).
func userDirName() string { return "dialpad-tunnel" }

// ownedPrivate accepts any directory: without unix owners and modes,
// the directory's access control lists restrict it.
func ownedPrivate(string, os.FileInfo, bool) error { return nil }
