//go:build !unix

package control

// private runs f: without a umask, the socket is restricted by Listen's
// chmod alone.
func private(f func() error) error { return f() }
