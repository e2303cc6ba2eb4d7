package bundle

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// ErrLink is wrapped when the input holds a symbolic or hard link and links
// are not followed.
var ErrLink = errors.New("links are not followed")

// Tree is every file and directory below a root, as payload sources named
// relative to it; DirSources makes one.
type Tree struct {
	root    string
	follow  bool
	exclude map[string]bool // absolute paths
	abs     string          // root, absolute, when there is something to exclude
}

// DirSources returns the payload of every file and directory below root,
// named relative to root. Nothing is listed yet: each call of All walks the
// tree again, depth first, each directory's entries sorted with directory
// names compared as "name/", which gives the names in byte-wise order of
// full paths. Memory is the listings of the directories on the current
// path, never the whole tree.
//
// Symbolic links, hard links (files with more than one name), devices,
// FIFOs and sockets are refused with the path named (exit 3) unless
// followLinks is set, in which case links are resolved (directory cycles
// are still refused) and special files still refused.
//
// Paths listed in exclude (compared after filepath.Abs) are left out: the
// output being written, when it lies inside the input directory.
func DirSources(root string, followLinks bool, exclude ...string) (*Tree, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("read input directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, exitcode.Usagef("%s: not a directory", root)
	}
	t := &Tree{root: root, follow: followLinks, exclude: map[string]bool{}}
	for _, p := range exclude {
		if abs, err := filepath.Abs(p); err == nil {
			t.exclude[abs] = true
		}
	}
	if len(t.exclude) > 0 {
		if t.abs, err = filepath.Abs(root); err != nil {
			return nil, fmt.Errorf("read input directory: %w", err)
		}
	}
	return t, nil
}

// All walks the tree and yields its directories and files in byte-wise
// order of names. An error ends the walk.
func (t *Tree) All() iter.Seq2[Source, error] {
	return func(yield func(Source, error) bool) {
		w := &walker{Tree: t, active: map[fileID]bool{}}
		fi, err := os.Stat(t.root)
		if err != nil {
			yield(Source{}, fmt.Errorf("read input directory: %w", err))
			return
		}
		if id, ok := idOf(fi); ok {
			w.active[id] = true
		}
		if err := w.walk(t.root, t.abs, "", yield); err != nil && err != errStop {
			yield(Source{}, err)
		}
	}
}

// errStop ends a walk whose consumer stopped.
var errStop = errors.New("stop")

type walker struct {
	*Tree
	active map[fileID]bool // directories on the current path, for cycle detection
}

// dent is one entry of a directory listing.
type dent struct {
	name string
	dir  bool // sorts as name + "/"
}

// compareDents orders entries as their full paths sort byte-wise: a
// directory "a" as "a/", so that "a.txt" < "a/" < "a0".
func compareDents(a, b dent) int {
	n := min(len(a.name), len(b.name))
	if c := strings.Compare(a.name[:n], b.name[:n]); c != 0 {
		return c
	}
	return cmp.Compare(nextByte(a, n), nextByte(b, n))
}

// nextByte is the byte of d's sort key at i, or -1 past its end.
func nextByte(d dent, i int) int {
	switch {
	case i < len(d.name):
		return int(d.name[i])
	case i == len(d.name) && d.dir:
		return '/'
	}
	return -1
}

// list reads dir's entries, sorted. Entries are read in chunks and kept as
// a name and a flag, about 40 bytes each besides the name.
func (w *walker) list(dir string) ([]dent, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", dir, err)
	}
	defer f.Close()
	var out []dent
	for {
		ents, err := f.ReadDir(1024)
		for _, de := range ents {
			isDir := de.IsDir()
			if de.Type()&fs.ModeSymlink != 0 && w.follow {
				// A link to a directory sorts as a directory.
				if fi, err := os.Stat(filepath.Join(dir, de.Name())); err == nil {
					isDir = fi.IsDir()
				}
			}
			out = append(out, dent{name: de.Name(), dir: isDir})
		}
		if err == io.EOF || err == nil && len(ents) == 0 {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read directory %s: %w", dir, err)
		}
	}
	slices.SortFunc(out, compareDents)
	return out, nil
}

func (w *walker) walk(dir, abs, rel string, yield func(Source, error) bool) error {
	ents, err := w.list(dir)
	if err != nil {
		return err
	}
	for i, de := range ents {
		ents[i] = dent{} // let the name go once visited
		path := filepath.Join(dir, de.name)
		name := rel + de.name
		var absPath string
		if len(w.exclude) > 0 {
			absPath = filepath.Join(abs, de.name)
			if w.exclude[absPath] {
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
		if fi.IsDir() != de.dir && (fi.IsDir() || fi.Mode().IsRegular()) {
			// The entry was replaced since the listing: its place in the
			// order is no longer known.
			return exitcode.Conflictf("%s: %w: it was replaced by a %s while its directory was read", path, ErrChanged, safefile.Kind(fi.Mode()))
		}
		switch {
		case fi.IsDir():
			id, ok := idOf(fi)
			if ok && w.active[id] {
				return exitcode.Invalidf("%s: directory loop through a symbolic link", path)
			}
			if !yield(Source{Name: name + "/", Origin: path}, nil) {
				return errStop
			}
			if ok {
				w.active[id] = true
			}
			err := w.walk(path, absPath, name+"/", yield)
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
			// The name is opened again later, when its content is read:
			// it may have been swapped for a FIFO, a device or (unless
			// links are followed) a symbolic link meanwhile. safefile
			// refuses those without blocking.
			p, open := path, safefile.OpenNoFollow
			if w.follow {
				open = safefile.Open
			}
			if !yield(Source{Name: name, Size: fi.Size(), Origin: path,
				Open: func() (io.ReadCloser, error) { return open(p) }}, nil) {
				return errStop
			}
		default:
			return exitcode.Invalidf("%s: %s is not a regular file or directory", path, safefile.Kind(fi.Mode()))
		}
	}
	return nil
}
