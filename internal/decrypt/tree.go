package decrypt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/partial"
	"github.com/stella-ops/stella-export/internal/plaintext"
	"github.com/stella-ops/stella-export/internal/safefile"
	"github.com/stella-ops/stella-export/internal/safepath"
	"github.com/stella-ops/stella-export/internal/tarball"
	"github.com/stella-ops/stella-export/internal/verify"
)

// TreeResult describes a decrypted export.
type TreeResult struct {
	Dir       string `json:"dir"`
	Mode      string `json:"mode"`      // envelope or age
	Decrypted int    `json:"decrypted"` // files decrypted and matched
	Clear     int    `json:"clear"`     // files copied as they were
	Bytes     int64  `json:"bytes"`     // plaintext bytes decrypted
}

// stage is the private staging directory a tree is built in: tree/ becomes
// the output, tmp/ holds the plaintext being decrypted.
type stage struct {
	dir  string
	root *os.Root
	next int
}

const (
	stageTree = "tree"
	stageTmp  = "tmp"
)

// newStage makes a staging directory (mode 0700: it holds plaintext) beside
// out, which must not exist.
func newStage(out string) (*stage, error) {
	if _, err := os.Lstat(out); err == nil {
		return nil, &atomicfile.ExistsError{Path: out}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("check output: %w", err)
	}
	// Like run's -o, missing parent directories are created.
	parent := filepath.Dir(filepath.Clean(out))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("create output directory: %w", err)
	}
	for range 100 {
		var b [8]byte
		rand.Read(b[:])
		p := filepath.Join(parent, ".stella-export-decrypt-"+hex.EncodeToString(b[:]))
		err := os.Mkdir(p, 0o700)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create staging directory: %w", err)
		}
		root, err := os.OpenRoot(p)
		if err == nil {
			err = root.Mkdir(stageTree, 0o700)
			if err == nil {
				err = root.Mkdir(stageTmp, 0o700)
			}
		}
		if err != nil {
			os.RemoveAll(p)
			return nil, fmt.Errorf("create staging directory: %w", err)
		}
		return &stage{dir: p, root: root}, nil
	}
	return nil, fmt.Errorf("create staging directory in %s: no free name", parent)
}

// create creates the file name (a safe path) below tree/, never replacing
// one.
func (s *stage) create(name string, mode os.FileMode) (*os.File, error) {
	if err := safepath.Check(name, false); err != nil {
		return nil, err
	}
	p := path.Join(stageTree, name)
	if err := s.root.MkdirAll(path.Dir(p), 0o755); err != nil {
		return nil, err
	}
	return s.root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
}

// commit moves tree/ to out, which must still not exist, and removes the
// stage.
func (s *stage) commit(out string) error {
	s.root.Close()
	if _, err := os.Lstat(out); err == nil {
		return &atomicfile.ExistsError{Path: out}
	}
	if err := os.Rename(filepath.Join(s.dir, stageTree), out); err != nil {
		return fmt.Errorf("move the decrypted tree into place: %w", err)
	}
	return os.RemoveAll(s.dir)
}

func (s *stage) abort() {
	s.root.Close()
	os.RemoveAll(s.dir)
}

// source is an export being decrypted: its files, sorted, and how to read
// one.
type source struct {
	files []string
	open  func(name string) (io.ReadCloser, error)
	// clear puts a file that is not encrypted into the tree (nil: it is
	// there already).
	clear func(name string) error
	// done is called with an encrypted file once it has been decrypted, or
	// with the plaintext manifest once read (nil: nothing to do).
	done func(name string) error
}

// Bundle verifies the bundle read from r (named name in messages) and
// decrypts it into the directory out: every file the plaintext manifest
// lists at its plaintext name (mode 0600), after checking the plaintext's
// SHA-256 and size, and every other file as it is in the bundle (mode
// 0644), but the plaintext manifest. out is mode 0700 and must not exist;
// on failure nothing of it is left.
func Bundle(ctx context.Context, r io.Reader, name, out string, keys Keys, limits tarball.Limits) (*TreeResult, error) {
	st, err := newStage(out)
	if err != nil {
		return nil, err
	}
	defer partial.Track(ctx, st.dir)()
	ok := false
	defer func() {
		if !ok {
			st.abort()
		}
	}()
	rep, err := verify.Verify(ctx, r, verify.Options{Limits: limits, Extract: func(name string, size int64) (io.WriteCloser, error) {
		mode := os.FileMode(0o644)
		if Suffix(name) != "" {
			mode = 0o600
		}
		return st.create(name, mode)
	}})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var files []string
	for _, e := range rep.Checksums().Entries {
		files = append(files, e.Path)
	}
	treeName := func(n string) string { return path.Join(stageTree, n) }
	src := source{
		files: files,
		open: func(n string) (io.ReadCloser, error) {
			return st.root.Open(treeName(n))
		},
		done: func(n string) error { return st.root.Remove(treeName(n)) },
	}
	res, err := st.decrypt(ctx, src, keys)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := st.commit(out); err != nil {
		return nil, err
	}
	ok = true
	res.Dir = out
	return res, nil
}

// Dir decrypts the export directory dir into out as Bundle does. dir is
// read without following any symbolic link below it; a link, FIFO, device
// or socket in it is refused (exit 3). Nothing in dir is changed.
func Dir(ctx context.Context, dir, out string, keys Keys) (*TreeResult, error) {
	files, err := listDir(dir)
	if err != nil {
		return nil, err
	}
	d, err := safefile.OpenDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open export directory: %w", err)
	}
	defer d.Close()
	st, err := newStage(out)
	if err != nil {
		return nil, err
	}
	defer partial.Track(ctx, st.dir)()
	ok := false
	defer func() {
		if !ok {
			st.abort()
		}
	}()
	open := func(n string) (io.ReadCloser, error) { return d.Open(n) }
	src := source{
		files: files,
		open:  open,
		clear: func(n string) error {
			in, err := open(n)
			if err != nil {
				return err
			}
			defer in.Close()
			f, err := st.create(n, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, in)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			return err
		},
	}
	res, err := st.decrypt(ctx, src, keys)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if err := st.commit(out); err != nil {
		return nil, err
	}
	ok = true
	res.Dir = out
	return res, nil
}

// listDir lists the regular files below dir, '/'-separated and sorted,
// refusing anything else but directories.
func listDir(dir string) ([]string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open export directory: %w", err)
	}
	defer root.Close()
	var files []string
	err = fs.WalkDir(root.FS(), ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case e.IsDir():
			return nil
		case !e.Type().IsRegular():
			return exitcode.Invalidf("%s: is a %s; an export directory holds only files and directories", filepath.Join(dir, p), safefile.Kind(e.Type()))
		}
		files = append(files, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	return files, nil
}

// decrypt reads the plaintext manifest of src, decrypts every file it lists
// into tree/ and puts every other file there as it is.
func (st *stage) decrypt(ctx context.Context, src source, keys Keys) (*TreeResult, error) {
	has := map[string]bool{}
	for _, f := range src.files {
		has[f] = true
	}
	manName, err := plaintext.Name(func(n string) bool { return has[n] })
	if err != nil {
		return nil, err
	}
	if manName == "" {
		return nil, exitcode.Invalidf("not an encrypted export: it has no %s%s or %s%s", plaintext.Base, plaintext.SuffixEnvelope, plaintext.Base, plaintext.SuffixAge)
	}
	man, err := readManifest(ctx, src.open, manName, keys)
	if err != nil {
		return nil, err
	}
	res := &TreeResult{Mode: ModeEnvelope}
	if Suffix(manName) == plaintext.SuffixAge {
		res.Mode = ModeAge
	}
	listed := map[string]plaintext.Entry{}
	for _, e := range man.Files {
		if !has[e.Encrypted] {
			return nil, exitcode.Verifyf("%s: listed in %s, missing from the export", e.Encrypted, manName)
		}
		if has[e.Name] {
			return nil, exitcode.Invalidf("%s: %s lists it as the plaintext of %s, but the export holds it in the clear too", e.Name, manName, e.Encrypted)
		}
		listed[e.Encrypted] = e
	}
	for _, name := range src.files {
		if err := ctx.Err(); err != nil {
			return nil, context.Cause(ctx)
		}
		e, enc := listed[name]
		switch {
		case name == manName:
			if src.done != nil {
				if err := src.done(name); err != nil {
					return nil, err
				}
			}
		case enc:
			if err := st.decryptFile(ctx, src, e, manName, keys); err != nil {
				return nil, err
			}
			res.Decrypted++
			res.Bytes += e.Size
		default:
			if src.clear != nil {
				if err := src.clear(name); err != nil {
					return nil, fmt.Errorf("copy %s: %w", name, err)
				}
			}
			res.Clear++
		}
	}
	return res, nil
}

// readManifest decrypts and parses the plaintext manifest.
func readManifest(ctx context.Context, open func(string) (io.ReadCloser, error), name string, keys Keys) (*plaintext.Manifest, error) {
	f, err := open(name)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	w := &capped{limit: plaintext.MaxSize}
	if _, _, err := keys.Copy(ctx, w, name, f); err != nil {
		return nil, fileError(name, err)
	}
	return plaintext.Parse(w.buf, Suffix(name))
}

// capped holds what is written to it, up to limit bytes.
type capped struct {
	buf   []byte
	limit int
}

func (c *capped) Write(p []byte) (int, error) {
	if len(c.buf)+len(p) > c.limit {
		return 0, exitcode.Invalidf("the plaintext manifest is larger than %d bytes", c.limit)
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// decryptFile decrypts one listed file into tmp/, checks it against its
// entry and renames it to its plaintext name in tree/.
func (st *stage) decryptFile(ctx context.Context, src source, e plaintext.Entry, manName string, keys Keys) error {
	in, err := src.open(e.Encrypted)
	if err != nil {
		return fmt.Errorf("open %s: %w", e.Encrypted, err)
	}
	defer in.Close()
	tmp := path.Join(stageTmp, strconv.Itoa(st.next))
	st.next++
	out, err := st.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	d, n, err := keys.Copy(ctx, out, e.Encrypted, in)
	if cerr := out.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		err = check(e, d, n, manName)
	}
	if err != nil {
		st.root.Remove(tmp)
		return fileError(e.Encrypted, err)
	}
	final := path.Join(stageTree, e.Name)
	if err := st.root.MkdirAll(path.Dir(final), 0o755); err != nil {
		return err
	}
	if err := st.root.Rename(tmp, final); err != nil {
		return fmt.Errorf("rename %s into place: %w", e.Name, err)
	}
	if src.done != nil {
		return src.done(e.Encrypted)
	}
	return nil
}

// check compares a plaintext's digest and size with its entry.
func check(e plaintext.Entry, d digest.SHA256, n int64, manName string) error {
	if n != e.Size {
		return exitcode.Verifyf("the plaintext is %d bytes, %s says %d", n, manName, e.Size)
	}
	if d.Hex() != e.SHA256 {
		return exitcode.Verifyf("the plaintext's SHA-256 is %s, %s says %s", d.Hex(), manName, e.SHA256)
	}
	return nil
}
