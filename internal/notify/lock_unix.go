//go:build unix

package notify

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// lockFlags open the lock file without following a symbolic link (a link
// planted as relay.lock would otherwise have its target truncated) and
// without blocking on a FIFO.
const lockFlags = unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC

// tryLock takes an exclusive flock(2) on f without blocking.
func tryLock(f *os.File) (bool, error) {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EWOULDBLOCK):
			return false, nil
		case errors.Is(err, unix.EINTR):
			continue
		default:
			return false, err
		}
	}
}
