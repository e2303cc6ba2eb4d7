package adapters

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"iter"
	"os"
	"path/filepath"
	"sync"

	"github.com/stella-ops/stella-export/internal/ctxio"
	"github.com/stella-ops/stella-export/internal/extsort"
)

// File is one staged file.
type File struct {
	Path    string `json:"path"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	Records int    `json:"records,omitempty"`
}

const sha256Prefix = "sha256:"

// DefaultBudget is the memory a Stage's file records take before they
// spill, when NewStage is given none.
const DefaultBudget = 32 << 20

// Stage is the staging directory of a run and the record of what was
// written to it. The records do not stay in memory: they go to an
// external sort (internal/extsort) by path under a memory budget, spilling
// beside the staging directory, so a run of millions of files holds none
// of them. Close removes what was spilled.
type Stage struct {
	Dir string
	// Sealer, when set, encrypts the files it covers as they are staged
	// (internal/encrypt): the stage records the encrypted file.
	Sealer Sealer

	ctx      context.Context
	spillDir string
	budget   int64

	dirs sync.Map // directories below Dir known to exist (Create)

	mu   sync.Mutex
	cur  *extsort.Sorter   // records since the last Files
	gens []*extsort.Sorted // earlier records, each sorted by path
	err  error             // the first error recording a file
}

// NewStage records files written below dir. Its records spill into dir's
// parent directory once they take more than budget bytes (0 means
// DefaultBudget); the spill directory is tracked in ctx's partial set.
func NewStage(ctx context.Context, dir string, budget int64) *Stage {
	if budget <= 0 {
		budget = DefaultBudget
	}
	return &Stage{Dir: dir, ctx: ctx, spillDir: filepath.Dir(filepath.Clean(dir)), budget: budget}
}

// Sorter returns an external sorter that spills where the stage's records
// do, under the stage's budget.
func (s *Stage) Sorter(less func(a, b []byte) int) *extsort.Sorter {
	return extsort.New(s.spillDir, s.budget, less).Track(s.ctx)
}

// A file record is the path, a NUL byte (paths hold none), a kind byte,
// and for a file its raw SHA-256, size and records (uvarints). Records of
// one path sort in the order they were made (the sort is stable), and the
// last one says what the stage holds.
const (
	recFile    = 'f'
	recRemoved = 'x'
)

func recPath(rec []byte) []byte {
	if i := bytes.IndexByte(rec, 0); i >= 0 {
		return rec[:i]
	}
	return rec
}

func byPath(a, b []byte) int { return bytes.Compare(recPath(a), recPath(b)) }

func (s *Stage) add(rec []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if s.cur == nil {
		s.cur = s.Sorter(byPath)
	}
	if err := s.cur.Add(rec); err != nil {
		s.err = fmt.Errorf("record staged file: %w", err)
	}
	return s.err
}

func (s *Stage) record(f File, sum []byte) error {
	rec := make([]byte, 0, len(f.Path)+2+len(sum)+2*binary.MaxVarintLen64)
	rec = append(rec, f.Path...)
	rec = append(rec, 0, recFile)
	rec = append(rec, sum...)
	rec = binary.AppendUvarint(rec, uint64(f.Size))
	rec = binary.AppendUvarint(rec, uint64(f.Records))
	return s.add(rec)
}

func decodeFile(rec []byte) (File, bool, error) {
	p := recPath(rec)
	rest := rec[len(p):]
	if len(rest) < 2 {
		return File{}, false, errors.New("staged file record: truncated")
	}
	if rest[1] == recRemoved {
		return File{Path: string(p)}, false, nil
	}
	rest = rest[2:]
	if len(rest) < sha256.Size {
		return File{}, false, errors.New("staged file record: truncated")
	}
	sum := rest[:sha256.Size]
	rest = rest[sha256.Size:]
	size, n := binary.Uvarint(rest)
	if n <= 0 {
		return File{}, false, errors.New("staged file record: bad size")
	}
	records, m := binary.Uvarint(rest[n:])
	if m <= 0 {
		return File{}, false, errors.New("staged file record: bad records")
	}
	return File{Path: string(p), SHA256: sha256Prefix + hex.EncodeToString(sum), Size: int64(size), Records: int(records)}, true, nil
}

// Sealer encrypts staged files. For a file rel it covers, the stage writes
// Name(rel) instead, mode 0600, through the writer Seal returns, and
// records the encrypted file (its digest, size and name) as the staged
// file; Finish gets the plaintext's SHA-256 and size, before the file is
// closed.
type Sealer interface {
	Covers(rel string) bool
	Name(rel string) string
	Seal(name, rel string, dst io.Writer) (SealWriter, error)
}

// SealWriter encrypts what is written to it; Finish ends the encrypted
// file (it does not close the destination) and records the plaintext's
// SHA-256 and size.
type SealWriter interface {
	io.Writer
	Finish(sum []byte, size int64) error
}

// Create opens a new file at rel (slash-separated) for writing; Close on
// the returned writer records its digest. A file the Sealer covers is
// written encrypted (see Sealer).
func (s *Stage) Create(rel string) (*StagedFile, error) {
	if s.Sealer != nil && s.Sealer.Covers(rel) {
		return s.CreateSealed(rel)
	}
	f, err := s.create(rel, 0o644)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	return &StagedFile{stage: s, rel: rel, f: f, h: h, w: io.MultiWriter(f, h)}, nil
}

// create creates the new file rel with mode perm and the directories it
// needs. A mirror creates a file per document, most in a few directories:
// the directories made are remembered, so each is made (and stat'ed) once.
func (s *Stage) create(rel string, perm os.FileMode) (*os.File, error) {
	p := filepath.Join(s.Dir, filepath.FromSlash(rel))
	dir := filepath.Dir(p)
	if _, ok := s.dirs.Load(dir); !ok {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		s.dirs.Store(dir, struct{}{})
	}
	return os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
}

// WriteHashed stages the whole file rel, b, whose SHA-256 the caller
// computed. A file the Sealer covers is written encrypted, as Create
// does. It is safe to call from several goroutines.
func (s *Stage) WriteHashed(rel string, b []byte, sum []byte, records int) (File, error) {
	if s.Sealer != nil && s.Sealer.Covers(rel) {
		f, err := s.CreateSealed(rel)
		if err != nil {
			return File{}, err
		}
		f.Records = records
		if _, err := f.Write(b); err != nil {
			f.Abort()
			return File{}, err
		}
		if err := f.Close(); err != nil {
			return File{}, err
		}
		return f.File(), nil
	}
	f, err := s.create(rel, 0o644)
	if err != nil {
		return File{}, err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return File{}, err
	}
	if err := f.Close(); err != nil {
		return File{}, err
	}
	file := File{Path: rel, SHA256: sha256Prefix + hex.EncodeToString(sum), Size: int64(len(b)), Records: records}
	return file, s.record(file, sum)
}

// CreateSealed opens a new file that the Sealer encrypts, covered or not:
// its name is Sealer.Name(rel).
func (s *Stage) CreateSealed(rel string) (*StagedFile, error) {
	name := s.Sealer.Name(rel)
	f, err := s.create(name, 0o600)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	out := &ctxio.CountWriter{W: io.MultiWriter(f, h)}
	sw, err := s.Sealer.Seal(name, rel, out)
	if err != nil {
		f.Close()
		return nil, err
	}
	ph := sha256.New()
	return &StagedFile{stage: s, rel: name, f: f, h: h, w: io.MultiWriter(sw, ph), seal: &sealed{w: sw, h: ph, out: out}}, nil
}

// sealed is the encryption state of a StagedFile.
type sealed struct {
	w   SealWriter
	h   hash.Hash          // of the plaintext
	out *ctxio.CountWriter // the encrypted bytes
}

// WriteFile stages a whole small file.
func (s *Stage) WriteFile(rel string, b []byte, records int) error {
	f, err := s.Create(rel)
	if err != nil {
		return err
	}
	f.Records = records
	if _, err := f.Write(b); err != nil {
		f.Abort()
		return err
	}
	return f.Close()
}

// Adopt records a file that was written below the stage by other means
// (a database library writing its own file), hashing it. A file the
// Sealer covers is encrypted to Sealer.Name(rel) and the plaintext removed.
func (s *Stage) Adopt(rel string, records int) (File, error) {
	if s.Sealer != nil && s.Sealer.Covers(rel) {
		return s.adoptSealed(rel, records)
	}
	f, err := os.Open(filepath.Join(s.Dir, filepath.FromSlash(rel)))
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return File{}, fmt.Errorf("read %s: %w", rel, err)
	}
	sum := h.Sum(nil)
	file := File{Path: rel, SHA256: sha256Prefix + hex.EncodeToString(sum), Size: n, Records: records}
	return file, s.record(file, sum)
}

func (s *Stage) adoptSealed(rel string, records int) (File, error) {
	p := filepath.Join(s.Dir, filepath.FromSlash(rel))
	src, err := os.Open(p)
	if err != nil {
		return File{}, err
	}
	defer src.Close()
	dst, err := s.CreateSealed(rel)
	if err != nil {
		return File{}, err
	}
	dst.Records = records
	if _, err := io.Copy(dst, src); err != nil {
		dst.Abort()
		return File{}, fmt.Errorf("encrypt %s: %w", rel, err)
	}
	if err := dst.Close(); err != nil {
		return File{}, err
	}
	if err := os.Remove(p); err != nil {
		return File{}, err
	}
	return dst.File(), nil
}

// Remove deletes a staged file (mirror:delta drops unchanged files).
func (s *Stage) Remove(rel string) error {
	if err := s.add(append([]byte(rel), 0, recRemoved)); err != nil {
		return err
	}
	return os.Remove(filepath.Join(s.Dir, filepath.FromSlash(rel)))
}

// Files returns the files staged so far in byte-wise path order, as a
// stream that can be read more than once. Files staged after the call are
// not in it.
func (s *Stage) Files() (*Files, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	if s.cur != nil {
		sorted, err := s.cur.Sort(s.ctx)
		s.cur.Close()
		s.cur = nil
		if err != nil {
			s.err = fmt.Errorf("sort staged files: %w", err)
			return nil, s.err
		}
		s.gens = append(s.gens, sorted)
	}
	return &Files{gens: append([]*extsort.Sorted(nil), s.gens...)}, nil
}

// Lookup returns a staged file's record, reading the whole list: for
// tests and small stages.
func (s *Stage) Lookup(rel string) (File, bool) {
	fs, err := s.Files()
	if err != nil {
		return File{}, false
	}
	for f, err := range fs.All() {
		if err != nil || f.Path > rel {
			break
		}
		if f.Path == rel {
			return f, true
		}
	}
	return File{}, false
}

// Close removes the records' spill files. The stage's files stay.
func (s *Stage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.cur != nil {
		errs = append(errs, s.cur.Close())
		s.cur = nil
	}
	for _, g := range s.gens {
		errs = append(errs, g.Close())
	}
	s.gens = nil
	return errors.Join(errs...)
}

// Files is a list of staged files in byte-wise path order, read as a
// stream.
type Files struct {
	gens []*extsort.Sorted
}

// All yields the files in byte-wise path order. An error reading the
// records ends the iteration (yielded once, with a zero File).
func (fs *Files) All() iter.Seq2[File, error] {
	return func(yield func(File, error) bool) {
		// Each generation is sorted; merge them, the last record of a path
		// (latest generation, then latest in it) winning.
		heads := make([]head, len(fs.gens))
		for i, g := range fs.gens {
			next, stop := iter.Pull2(g.All())
			defer stop()
			heads[i].next = next
			if err := heads[i].advance(); err != nil {
				yield(File{}, err)
				return
			}
		}
		var path, win []byte
		for {
			path = path[:0]
			found := false
			for i := range heads {
				if h := &heads[i]; h.rec != nil && (!found || bytes.Compare(recPath(h.rec), path) < 0) {
					path, found = append(path[:0], recPath(h.rec)...), true
				}
			}
			if !found {
				return
			}
			for i := range heads {
				h := &heads[i]
				for h.rec != nil && bytes.Equal(recPath(h.rec), path) {
					win = append(win[:0], h.rec...)
					if err := h.advance(); err != nil {
						yield(File{}, err)
						return
					}
				}
			}
			f, ok, err := decodeFile(win)
			if err != nil {
				yield(File{}, err)
				return
			}
			if ok && !yield(f, nil) {
				return
			}
		}
	}
}

// head is the next record of one generation (nil at its end).
type head struct {
	next func() ([]byte, error, bool)
	rec  []byte
}

func (h *head) advance() error {
	rec, err, ok := h.next()
	switch {
	case err != nil:
		h.rec = nil
		return err
	case !ok:
		h.rec = nil
	default:
		h.rec = rec
	}
	return nil
}

// StagedFile hashes what is written to it.
type StagedFile struct {
	stage   *Stage
	rel     string
	f       *os.File
	h       hash.Hash
	w       io.Writer
	n       int64
	file    File
	seal    *sealed // nil unless the file is encrypted
	Records int
}

func (f *StagedFile) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	f.n += int64(n)
	return n, err
}

// Abort closes the file without recording it (the staging directory is
// removed on failure anyway).
func (f *StagedFile) Abort() { f.f.Close() }

// Close flushes the file and records it.
func (f *StagedFile) Close() error {
	if f.seal != nil {
		if err := f.seal.w.Finish(f.seal.h.Sum(nil), f.n); err != nil {
			f.f.Close()
			return err
		}
		f.n = f.seal.out.N
	}
	if err := f.f.Close(); err != nil {
		return err
	}
	var sum [sha256.Size]byte
	f.h.Sum(sum[:0])
	f.file = File{Path: f.rel, SHA256: sha256Prefix + hex.EncodeToString(sum[:]), Size: f.n, Records: f.Records}
	return f.stage.record(f.file, sum[:])
}

// File is the record of the file, once closed.
func (f *StagedFile) File() File { return f.file }
