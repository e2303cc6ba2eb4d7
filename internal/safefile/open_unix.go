//go:build unix

package safefile

import (
	"errors"
	"os"
	"syscall"
)

// openFile opens path with O_NONBLOCK, so that opening a FIFO without a
// writer returns at once, and with O_NOFOLLOW when asked.
func openFile(path string, noFollow bool) (*os.File, error) {
	flags := os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_CLOEXEC
	if noFollow {
		flags |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(path, flags, 0)
	if noFollow && errors.Is(err, syscall.ELOOP) {
		return nil, &NotRegularError{Path: path, Kind: "symbolic link"}
	}
	return f, err
}

func setBlocking(f *os.File) error { return syscall.SetNonblock(int(f.Fd()), false) }
