package bundle

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// ErrLink is wrapped when the input holds a symbolic or hard link and links
// are not followed.
var ErrLink = errors.New("links are not followed")

// DirSources lists every file and directory below root as payload sources
// named relative to root. Symbolic links, hard links (files with more than
// one name), devices, FIFOs and sockets are refused with the path named
// (exit 3) unless followLinks is set, in which case links are resolved
// (directory cycles are still refused) and special files still refused.
//
// Paths listed in exclude (compared after filepath.Abs) are left out: the
// output being written, when it lies inside the input directory.
func DirSources(root string, followLinks bool, exclude ...string) ([]Source, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("read input directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, exitcode.Usagef("%s: not a directory", root)
	}
	w := &walker{root: root, follow: followLinks, active: map[fileID]bool{}, exclude: map[string]bool{}}
	for _, p := range exclude {
		if abs, err := filepath.Abs(p); err == nil {
			w.exclude[abs] = true
		}
	}
	if id, ok := idOf(fi); ok {
		w.active[id] = true
	}
	if err := w.walk(root, ""); err != nil {
		return nil, err
	}
	return w.out, nil
}

type walker struct {
	root    string
	follow  bool
	active  map[fileID]bool // directories on the current path, for cycle detection
	exclude map[string]bool
	out     []Source
}

func (w *walker) walk(dir, rel string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read directory %s: %w", dir, err)
	}
	for _, de := range ents {
		path := filepath.Join(dir, de.Name())
		name := rel + de.Name()
		if len(w.exclude) > 0 {
			if abs, err := filepath.Abs(path); err == nil && w.exclude[abs] {
				continue
			}
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return fmt.Errorf("stat %s: %w", path, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if !w.follow {
				target, _ := os.Readlink(path)
				return exitcode.Invalidf("%s: symbolic link to %q: %w", path, target, ErrLink)
			}
			if fi, err = os.Stat(path); err != nil {
				return fmt.Errorf("follow link %s: %w", path, err)
			}
		}
		switch {
		case fi.IsDir():
			id, ok := idOf(fi)
			if ok && w.active[id] {
				return exitcode.Invalidf("%s: directory loop through a symbolic link", path)
			}
			w.out = append(w.out, Source{Name: name + "/", Origin: path})
			if ok {
				w.active[id] = true
			}
			err := w.walk(path, name+"/")
			if ok {
				delete(w.active, id)
			}
			if err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			if !w.follow && linkCount(fi) > 1 {
				return exitcode.Invalidf("%s: hard link (the file has %d names): %w", path, linkCount(fi), ErrLink)
			}
			// The name is opened again later, when its content is written:
			// it may have been swapped for a FIFO, a device or (unless
			// links are followed) a symbolic link meanwhile. safefile
			// refuses those without blocking.
			p, open := path, safefile.OpenNoFollow
			if w.follow {
				open = safefile.Open
			}
			w.out = append(w.out, Source{Name: name, Size: fi.Size(), Origin: path,
				Open: func() (io.ReadCloser, error) { return open(p) }})
		default:
			return exitcode.Invalidf("%s: %s is not a regular file or directory", path, kind(fi.Mode()))
		}
	}
	return nil
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}
