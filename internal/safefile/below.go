//go:build unix

package safefile

import (
	"errors"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safepath"
)

// Dir is a directory that files are opened below without following any
// symbolic link: not in the last component and not in any directory on the
// way (each component is opened with openat(2) and O_NOFOLLOW relative to
// the one before), so that a link cannot lead a relative path out of the
// directory or from one part of it into another.
type Dir struct {
	f    *os.File
	name string
}

// OpenDir opens the directory path (links in path itself are followed: it
// is named by the caller, not by an input).
func OpenDir(path string) (*Dir, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.IsDir() {
		f.Close()
		return nil, &NotRegularError{Path: path, Kind: Kind(st.Mode())}
	}
	return &Dir{f: f, name: path}, nil
}

// Close closes the directory.
func (d *Dir) Close() error { return d.f.Close() }

// Open opens the regular file rel ('/'-separated, a safe path as
// safepath.Check defines it) below d for reading, as Open does: without
// blocking on a FIFO or device, refusing anything but a regular file
// (*NotRegularError naming rel, exit 3), and refusing a symbolic link in
// any component. A missing component gives an error matching
// fs.ErrNotExist.
func (d *Dir) Open(rel string) (*os.File, error) {
	if err := safepath.Check(rel, false); err != nil {
		return nil, err
	}
	// One openat2(2) resolves the whole path beneath d refusing every
	// link; where the kernel lacks it (before 5.6, or a seccomp filter),
	// and on any error, so that the error names the component at fault,
	// the path is walked one component at a time.
	if fd, err := openBeneath(int(d.f.Fd()), rel); err == nil {
		return regularFD(fd, rel)
	}
	parts := strings.Split(rel, "/")
	dirfd := int(d.f.Fd())
	for i, name := range parts {
		last := i == len(parts)-1
		flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if last {
			flags |= unix.O_NONBLOCK
		} else {
			flags |= unix.O_DIRECTORY
		}
		fd, err := openat(dirfd, name, flags)
		if i > 0 {
			unix.Close(dirfd)
		}
		if err != nil {
			at := strings.Join(parts[:i+1], "/")
			// ELOOP (EMLINK on some BSDs) is O_NOFOLLOW meeting a link.
			if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EMLINK) || errors.Is(err, unix.ENOTDIR) {
				return nil, d.kindError(at, last, err)
			}
			return nil, &fs.PathError{Op: "open", Path: at, Err: err}
		}
		if last {
			return regularFD(fd, rel)
		}
		dirfd = fd
	}
	panic("unreachable")
}

// kindError names what is at rel (below d) when it could not be opened as
// the file (last) or directory it should be.
func (d *Dir) kindError(rel string, last bool, err error) error {
	st, serr := os.Lstat(d.name + "/" + rel)
	switch {
	case serr != nil:
		return &fs.PathError{Op: "open", Path: rel, Err: err}
	case last:
		return &NotRegularError{Path: rel, Kind: Kind(st.Mode())}
	case st.Mode()&fs.ModeSymlink != 0:
		return exitcode.Invalidf("%s: is a symbolic link; links are not followed below %s", rel, d.name)
	}
	return exitcode.Invalidf("%s: is a %s, not a directory", rel, Kind(st.Mode()))
}
