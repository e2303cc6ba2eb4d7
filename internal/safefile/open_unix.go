//go:build unix

package safefile

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// openFile opens path with O_NONBLOCK, so that opening a FIFO without a
// writer returns at once, and with O_NOFOLLOW when asked, and returns it
// as a regular file (see regularFD).
func openFile(path string, noFollow bool) (*os.File, error) {
	flags := unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC
	if noFollow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := openat(unix.AT_FDCWD, path, flags)
	if err != nil {
		if noFollow && errors.Is(err, unix.ELOOP) {
			return nil, &NotRegularError{Path: path, Kind: "symbolic link"}
		}
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return regularFD(fd, path)
}

// regularFD turns fd, opened read-only with O_NONBLOCK, into an *os.File
// if it is a regular file, and closes it otherwise (*NotRegularError
// naming name). This is the hot path of reading a million documents, so
// it costs three system calls: fstat, one F_SETFL that clears O_NONBLOCK
// (regular files never block; the descriptor then behaves ordinarily for
// whatever reads it, and a read-only descriptor has no other status flag
// to keep), and os.NewFile's F_GETFL, which finds a blocking descriptor
// and so does not try to register it with the runtime's poller.
func regularFD(fd int, name string) (*os.File, error) {
	var st unix.Stat_t
	for {
		err := unix.Fstat(fd, &st)
		if err == nil {
			break
		}
		if err != unix.EINTR {
			unix.Close(fd)
			return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
		}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		f := os.NewFile(uintptr(fd), name)
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return nil, err
		}
		return nil, &NotRegularError{Path: name, Kind: Kind(fi.Mode())}
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, 0); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "fcntl", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

func openat(dirfd int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

func setBlocking(f *os.File) error { return unix.SetNonblock(int(f.Fd()), false) }
