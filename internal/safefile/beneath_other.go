//go:build unix && !linux

package safefile

import "golang.org/x/sys/unix"

// openBeneath has no one-call form here: Dir.Open walks the path one
// component at a time.
func openBeneath(int, string) (int, error) { return -1, unix.ENOSYS }
