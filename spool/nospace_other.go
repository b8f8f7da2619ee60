//go:build !windows

package spool

// noSpaceSystem reports nothing more than noSpace here: the system's
// errors are ENOSPC, EDQUOT and EFBIG.
func noSpaceSystem(error) bool { return false }
