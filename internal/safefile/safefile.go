// Package safefile opens the files stella-export reads and checks the ones it
// replaces, treating every path as hostile.
//
// Every input file is opened with O_NONBLOCK, so that a FIFO, a character
// device or a socket named where a file is expected cannot block the
// process, and then checked with fstat(2) on the open descriptor (not on the
// name, which could be swapped between the check and the open): anything but
// a regular file is refused with *NotRegularError (exit 3). O_NONBLOCK is
// cleared again before the file is returned, so reads behave as usual.
//
// Small inputs (configuration, keys, secrets, proofs, outbox entries) are
// read with ReadAll, which never allocates more than its limit plus one byte:
// a larger file, /dev/zero or a growing file is refused with *TooLargeError
// (exit 3) instead of exhausting memory.
//
// Outputs are only ever replaced when Replaceable says the existing name is
// a regular file (or absent): --force never turns /dev/null, a directory or
// a symbolic link into a regular file.
//
// The shell equivalent of Open is `test -f "$path" && exec 3<"$path"`, made
// race-free.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// Sizes of the small inputs. Each is far above what a legitimate file of
// its kind needs and far below what would strain memory.
const (
	MaxConfig  = 1 << 20  // configuration files, like contracts
	MaxSecret  = 64 << 10 // HMAC secrets, passwords, key files
	MaxDoc     = 16 << 20 // small JSON documents: outbox entries, proofs, manifests
	MaxToken   = 4 << 10  // ids, subjects, keys and other single tokens
	MinSecret  = 16       // shortest secret accepted for signing notifications
	permsGroup = 0o077    // group and world permission bits
)

// NotRegularError says Path is not a regular file (a FIFO, device, socket,
// directory or, where links are not followed, a symbolic link).
type NotRegularError struct {
	Path string
	Kind string
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s: is a %s, not a regular file", e.Path, e.Kind)
}

func (e *NotRegularError) Unwrap() error { return exitcode.ErrInvalid }

// TooLargeError says Path holds more than Limit bytes.
type TooLargeError struct {
	Path  string
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s: larger than %s", e.Path, Size(e.Limit))
}

func (e *TooLargeError) Unwrap() error { return exitcode.ErrInvalid }

// Size formats n bytes for messages: "4 KiB", "1 MiB", "1000 bytes".
func Size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Kind names the type of file m describes, for messages.
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "regular file"
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	}
	return "special file"
}

// Open opens path for reading, refusing anything but a regular file without
// ever blocking on it. Symbolic links are followed.
func Open(path string) (*os.File, error) { return open(path, false) }

// OpenNoFollow is Open that also refuses a symbolic link as the last
// component of path.
func OpenNoFollow(path string) (*os.File, error) { return open(path, true) }

func open(path string, noFollow bool) (*os.File, error) {
	return openFile(path, noFollow)
}

// Regular checks that the open file f (named path in messages) is a regular
// file and puts it back in blocking mode. Use it on files opened by other
// means, such as os.Root.OpenFile with O_NONBLOCK.
func Regular(f *os.File, path string) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return &NotRegularError{Path: path, Kind: Kind(st.Mode())}
	}
	// Regular files never block; clearing the flag keeps the descriptor's
	// behaviour ordinary for everything that reads it later.
	if err := setBlocking(f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ReadAll reads the whole of the regular file path, refusing it with
// *TooLargeError when it holds more than limit bytes.
func ReadAll(path string, limit int64) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadFrom(f, path, limit)
}

// ReadFrom reads r to its end, refusing it with *TooLargeError (naming path)
// when it holds more than limit bytes. Memory never exceeds limit+1 bytes
// plus the reader's own buffers.
func ReadFrom(r io.Reader, path string, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, &TooLargeError{Path: path, Limit: limit}
	}
	return b, nil
}

// Replaceable reports whether --force may replace path: nil when nothing is
// there or it is a regular file, otherwise an error (exit 5) naming what is
// there. It does not follow a symbolic link at path.
func Replaceable(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return exitcode.Conflictf("%s is a %s: only a regular file that stella-export wrote is ever replaced", path, Kind(st.Mode()))
	}
	return nil
}

// PrivateWarning returns a warning when the file f (named path) can be read
// by its group or by others, "" otherwise. Secrets and private keys should
// be 0600.
func PrivateWarning(f *os.File, path string) string {
	st, err := f.Stat()
	if err != nil || st.Mode().Perm()&permsGroup == 0 {
		return ""
	}
	return fmt.Sprintf("warning: %s is readable by group or others (mode %04o); chmod 600 it", path, st.Mode().Perm())
}

// CheckToken refuses a single value (an id, subject or key) longer than
// MaxToken bytes, without echoing it: an *exitcode.OptionError (exit 3)
// whose Option is what.
func CheckToken(what, v string) error {
	if len(v) > MaxToken {
		return exitcode.Optionf(what, "%d bytes, longer than the %s allowed", len(v), Size(MaxToken))
	}
	return nil
}
