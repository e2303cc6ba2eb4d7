// Package tarball writes reproducible PAX tar.gz bundles and reads untrusted
// ones safely, both as streams.
//
// The writer's guarantees (docs/format.md#archive): one gzip member around one
// POSIX tar stream in PAX format; entries in strictly increasing byte-wise
// path order, every parent directory an entry of its own ending in '/';
// regular files 0644 and directories 0755; uid/gid 0, no user or group
// names, no atime/ctime/xattrs; every mtime and the gzip MTIME equal to one
// pinned time; gzip FNAME and FCOMMENT absent and OS 255. Compression runs on
// all cores in fixed-size blocks (klauspost/pgzip), so the bytes depend on
// the content, the pinned time, the level and the block size only, never on
// the number of cores or the size of each Write. For a directory that
// already holds only safe names the result has the same entries as
//
//	tar --sort=name --format=pax --mtime=@T --owner=0 --group=0 --numeric-owner \
//	    --mode=go-w,a+rX --pax-option=delete=atime,delete=ctime -cf - . | gzip -n
//
// but not the same bytes, because the compressor differs.
package tarball

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/klauspost/pgzip"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safepath"
)

// Defaults that fix the compressed bytes; changing either changes the output.
const (
	DefaultLevel     = 6
	DefaultBlockSize = 1 << 20
)

// DefaultModTime is the pinned time used when none is given:
// 2025-01-01T00:00:00Z.
var DefaultModTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Options configure a Writer.
type Options struct {
	ModTime     time.Time // pinned mtime of every entry and of the gzip header; zero means DefaultModTime
	Level       int       // gzip level 1..9; 0 means DefaultLevel
	Concurrency int       // blocks compressed at once; 0 means GOMAXPROCS (does not change the bytes)
}

// ErrOrder is returned when entries are added out of byte-wise order.
var ErrOrder = errors.New("entries out of order")

// Writer writes one bundle archive.
type Writer struct {
	gz      *pgzip.Writer
	tw      *tar.Writer
	modTime time.Time
	last    string // every parent of last, and last if a directory, is written
	closed  bool
}

// NewWriter starts an archive on w.
func NewWriter(w io.Writer, opt Options) (*Writer, error) {
	mt := opt.ModTime
	if mt.IsZero() {
		mt = DefaultModTime
	}
	mt = mt.UTC().Truncate(time.Second)
	if mt.Unix() < 0 || mt.Unix() > 1<<32-1 {
		return nil, exitcode.Usagef("pinned time %s does not fit the gzip header (1970..2106)", mt.Format(time.RFC3339))
	}
	level := opt.Level
	if level == 0 {
		level = DefaultLevel
	}
	if level < 1 || level > 9 {
		return nil, exitcode.Usagef("gzip level %d is not in 1..9", level)
	}
	gz, err := pgzip.NewWriterLevel(w, level)
	if err != nil {
		return nil, err
	}
	blocks := opt.Concurrency
	if blocks <= 0 {
		blocks = defaultConcurrency()
	}
	if err := gz.SetConcurrency(DefaultBlockSize, blocks); err != nil {
		return nil, err
	}
	gz.Header.ModTime = mt
	gz.Header.OS = 255
	gz.Header.Name = ""
	gz.Header.Comment = ""
	return &Writer{gz: gz, tw: tar.NewWriter(gz), modTime: mt}, nil
}

// ModTime is the pinned time the writer uses.
func (w *Writer) ModTime() time.Time { return w.modTime }

func (w *Writer) order(name string) error {
	if name <= w.last {
		return fmt.Errorf("%w: %q after %q", ErrOrder, name, w.last)
	}
	return nil
}

// written reports whether the directory entry dir is written already.
// Names arrive in byte-wise order, each after its parents, and the names
// under dir sort together right after it: so dir was written exactly when
// it is a prefix of the last name. No set of every directory is kept.
func (w *Writer) written(dir string) bool { return strings.HasPrefix(w.last, dir) }

// ensureParents writes the directory entries of name's parents that were
// not written yet. Because names arrive in byte-wise order, a missing parent
// always sorts after the previous entry.
func (w *Writer) ensureParents(name string) error {
	for _, p := range safepath.Parents(name) {
		if !w.written(p) {
			if err := w.dir(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// Dir adds a directory entry; name must end in '/'.
func (w *Writer) Dir(name string) error {
	if err := safepath.Check(name, true); err != nil {
		return err
	}
	if w.written(name) {
		return nil
	}
	if err := w.order(name); err != nil {
		return err
	}
	if err := w.ensureParents(name); err != nil {
		return err
	}
	return w.dir(name)
}

func (w *Writer) dir(name string) error {
	hdr := &tar.Header{
		Typeflag: tar.TypeDir,
		Name:     name,
		Mode:     0o755,
		ModTime:  w.modTime,
		Format:   tar.FormatPAX,
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return err
	}
	w.last = name
	return nil
}

// ShortReadError says a file delivered fewer or more bytes than announced,
// which means it changed while the bundle was written.
type ShortReadError struct {
	Name      string
	Want, Got int64
}

func (e *ShortReadError) Error() string {
	return fmt.Sprintf("%s: size changed while writing (announced %d bytes, read %d)", e.Name, e.Want, e.Got)
}

func (e *ShortReadError) Unwrap() error { return exitcode.ErrConflict }

// File adds a regular file of exactly size bytes read from r.
func (w *Writer) File(name string, size int64, r io.Reader) error {
	if err := safepath.Check(name, false); err != nil {
		return err
	}
	if err := w.order(name); err != nil {
		return err
	}
	if err := w.ensureParents(name); err != nil {
		return err
	}
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Size:     size,
		Mode:     0o644,
		ModTime:  w.modTime,
		Format:   tar.FormatPAX,
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return err
	}
	w.last = name
	n, err := io.Copy(w.tw, io.LimitReader(r, size))
	if err != nil {
		return err
	}
	if n != size {
		return &ShortReadError{Name: name, Want: size, Got: n}
	}
	// One more byte means the source grew.
	var one [1]byte
	if m, _ := r.Read(one[:]); m > 0 {
		return &ShortReadError{Name: name, Want: size, Got: size + 1}
	}
	return nil
}

// Close finishes the tar stream and the gzip member. It does not close the
// underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.tw.Close(); err != nil {
		w.gz.Close()
		return err
	}
	return w.gz.Close()
}
