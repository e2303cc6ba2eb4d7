//go:build windows

package notify

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// lockFlags adds nothing on Windows.
const lockFlags = 0

// tryLock takes an exclusive LockFileEx lock on f without blocking.
func tryLock(f *os.File) (bool, error) {
	var ol windows.Overlapped
	err := windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, windows.ERROR_LOCK_VIOLATION):
		return false, nil
	default:
		return false, err
	}
}
