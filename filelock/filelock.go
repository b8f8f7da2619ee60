// Package filelock takes the exclusive advisory lock of an open file that
// the spool and setup's state use so that two processes never work on one
// file at once: flock where there is one, LockFileEx on Windows.
package filelock
