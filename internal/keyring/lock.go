package keyring

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// lockDir takes the keyring's write lock, an exclusive flock(2) on
// DIR/.lock, without waiting: a keyring being changed by another process
// is a conflict (exit 5). The lock is released when the returned function
// runs or the process exits, so a killed process never leaves it behind.
func lockDir(dir string) (func(), error) {
	path := filepath.Join(dir, LockName)
	// No symbolic link (its target would be created), no blocking on a FIFO.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o600)
	if errors.Is(err, unix.ELOOP) {
		return nil, &safefile.NotRegularError{Path: path, Kind: "symbolic link"}
	}
	if err != nil {
		return nil, fmt.Errorf("keyring lock %s: %w", path, err)
	}
	if err := safefile.Regular(f, path); err != nil {
		f.Close()
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	switch {
	case errors.Is(err, unix.EWOULDBLOCK):
		f.Close()
		return nil, exitcode.Conflictf("keyring %s is being changed by another process (%s is locked); try again", dir, path)
	case err != nil:
		f.Close()
		return nil, fmt.Errorf("keyring lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// checkPrivate refuses the key file f (named path) when its group or
// others may read or write it.
func checkPrivate(f *os.File, path string) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("key file %s: %w", path, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return &UnsafeError{Path: path, Mode: st.Mode()}
	}
	return nil
}
