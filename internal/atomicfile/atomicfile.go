// Package atomicfile writes an output so that it appears whole or not at
// all: data goes to a hidden temporary file in the target directory, which is
// synced and then renamed into place. Without Force an existing target is
// never replaced, not even by a race: the final step is a hard link, which
// fails if the name exists. With Force only a regular file is replaced,
// never a device, FIFO, directory or symbolic link.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/partial"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// ExistsError says the target exists and Force was not given.
type ExistsError struct{ Path string }

func (e *ExistsError) Error() string { return fmt.Sprintf("%s already exists", e.Path) }

func (e *ExistsError) Unwrap() []error { return []error{fs.ErrExist, exitcode.ErrConflict} }

func (e *ExistsError) ErrorCode() string { return exitcode.CodeOutputExists }

// File is an output being written.
type File struct {
	*os.File
	final string
	force bool
	done  bool
	mode  os.FileMode
}

// Create starts writing path. It fails with *ExistsError when path exists
// and force is false. With force only a regular file is ever replaced
// (safefile.Replaceable, checked here and again at Commit): a device, FIFO,
// directory or symbolic link at path is refused with exit 5.
func Create(path string, force bool) (*File, error) {
	if !force {
		if _, err := os.Lstat(path); err == nil {
			return nil, &ExistsError{Path: path}
		}
	} else if err := safefile.Replaceable(path); err != nil {
		return nil, err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, partial.FilePattern(base))
	if err != nil {
		return nil, fmt.Errorf("create output in %s: %w", dir, err)
	}
	return &File{File: f, final: path, force: force, mode: 0o644}, nil
}

// Name is the final path.
func (f *File) Name() string { return f.final }

// TempName is the temporary file's path.
func (f *File) TempName() string { return f.File.Name() }

// SetMode sets the permissions the file gets at Commit (default 0644);
// the temporary file is already private to its owner.
func (f *File) SetMode(m os.FileMode) { f.mode = m }

// Commit syncs the data, closes the file and moves it to its final name.
func (f *File) Commit() error {
	if f.done {
		return errors.New("atomicfile: already finished")
	}
	f.done = true
	tmp := f.File.Name()
	err := f.File.Chmod(f.mode)
	if err == nil {
		err = f.File.Sync()
	}
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", f.final, err)
	}
	if f.force {
		if err := safefile.Replaceable(f.final); err != nil {
			os.Remove(tmp)
			return err
		}
		if err := os.Rename(tmp, f.final); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("rename into %s: %w", f.final, err)
		}
		return syncDir(filepath.Dir(f.final))
	}
	if err := os.Link(tmp, f.final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			os.Remove(tmp)
			return &ExistsError{Path: f.final}
		}
		// File systems without hard links: check, then rename.
		if _, serr := os.Lstat(f.final); serr == nil {
			os.Remove(tmp)
			return &ExistsError{Path: f.final}
		}
		if err := os.Rename(tmp, f.final); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("rename into %s: %w", f.final, err)
		}
		return syncDir(filepath.Dir(f.final))
	}
	os.Remove(tmp)
	return syncDir(filepath.Dir(f.final))
}

// WriteFile writes data to path atomically with the given permissions.
// Without force an existing path is never replaced (*ExistsError).
func WriteFile(path string, data []byte, mode os.FileMode, force bool) error {
	f, err := Create(path, force)
	if err != nil {
		return err
	}
	defer f.Abort()
	f.SetMode(mode)
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}

// Abort discards the temporary file. It is safe to call after Commit, and
// more than once.
func (f *File) Abort() error {
	if f.done {
		return nil
	}
	f.done = true
	f.File.Close()
	return os.Remove(f.File.Name())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer d.Close()
	d.Sync()
	return nil
}
