// Package adapters turns resolved evidence into export files. Adapters are
// registered at build time in this package's registry (no plugins are
// loaded at run time); a profile names the adapters it runs, in order.
//
// Every adapter writes below the job's staging directory through Stage,
// which records each file's SHA-256 and size for export.json,
// provenance.json and the bundle.
package adapters

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"

	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/events"
	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

// Adapter writes one kind of output.
type Adapter interface {
	Name() string
	// Version changes whenever the adapter's output for the same input
	// changes; it is recorded in export.json and provenance.json.
	Version() string
	// Outputs says what Run will write for these documents.
	Outputs(in *Input) []Output
	Run(ctx context.Context, job *Job) error
}

// Output is one planned output: a file, or a directory of per-document
// files (Path ending in '/').
type Output struct {
	Path    string `json:"path"`
	Records int    `json:"records"`
}

// Input is what adapters work from: the resolved documents, as a stream
// in plan order.
type Input struct {
	Docs        evidence.Docs
	Snapshot    *evidence.Snapshot
	Compression contract.Compression
	// Base is the base mirror's file list (mirror:delta only).
	Base *BaseMirror

	counts map[evidence.Type]int
}

// Count returns the number of documents of type t. The first call counts
// them all in one pass over Docs (so Count, like the rest of Input, is for
// one goroutine). An error reading Docs ends the count early; it is not
// lost: Run and plan.Write read Docs again and return it.
func (in *Input) Count(t evidence.Type) int {
	if in.counts == nil {
		in.counts = map[evidence.Type]int{}
		for d, err := range in.Docs.All() {
			if err != nil {
				break
			}
			in.counts[d.Type]++
		}
	}
	return in.counts[t]
}

// Job is one adapter run.
type Job struct {
	*Input
	Source string // evidence directory
	Stage  *Stage
	Events *events.Writer
	// Open opens a planned document and checks, while reading it, that it
	// still has the planned digest. Adapters call it on several goroutines
	// at once.
	Open func(d *evidence.Doc) (*Doc, error)
}

var (
	regMu    sync.Mutex
	registry = map[string]Adapter{}
	profiles = map[string][]string{
		contract.ProfileJSONRaw:     {"json:raw"},
		contract.ProfileJSONPolicy:  {"json:raw", "json:policy"},
		contract.ProfileMirrorFull:  {"mirror:full"},
		contract.ProfileMirrorDelta: {"mirror:delta"},
	}
)

// Register adds an adapter at init time.
func Register(a Adapter) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[a.Name()]; dup {
		panic("adapters: " + a.Name() + " registered twice")
	}
	registry[a.Name()] = a
}

// ForProfile returns the adapters a profile runs, in order.
func ForProfile(profile string) ([]Adapter, error) {
	names, ok := profiles[profile]
	if !ok {
		return nil, exitcode.Invalidf("profile %q has no adapters in this build (have %v)", profile, Profiles())
	}
	var out []Adapter
	for _, n := range names {
		a, ok := registry[n]
		if !ok {
			return nil, fmt.Errorf("adapter %s is not registered", n)
		}
		out = append(out, a)
	}
	return out, nil
}

// Profiles lists the profiles this build can run.
func Profiles() []string {
	var out []string
	for p := range profiles {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// File is one staged file.
type File struct {
	Path    string `json:"path"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	Records int    `json:"records,omitempty"`
}

// Stage is the staging directory of a run and the record of what was
// written to it.
type Stage struct {
	Dir   string
	mu    sync.Mutex
	files map[string]File
}

// NewStage records files written below dir.
func NewStage(dir string) *Stage { return &Stage{Dir: dir, files: map[string]File{}} }

// Create opens a new file at rel (slash-separated) for writing; Close on
// the returned writer records its digest.
func (s *Stage) Create(rel string) (*StagedFile, error) {
	p := filepath.Join(s.Dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	return &StagedFile{stage: s, rel: rel, f: f, h: h, w: io.MultiWriter(f, h)}, nil
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

// Remove deletes a staged file (mirror:delta drops unchanged files).
func (s *Stage) Remove(rel string) error {
	s.mu.Lock()
	delete(s.files, rel)
	s.mu.Unlock()
	return os.Remove(filepath.Join(s.Dir, filepath.FromSlash(rel)))
}

// Files returns the staged files in byte-wise path order.
func (s *Stage) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]File, 0, len(s.files))
	for _, f := range s.files {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b File) int {
		switch {
		case a.Path < b.Path:
			return -1
		case a.Path > b.Path:
			return 1
		}
		return 0
	})
	return out
}

// Lookup returns a staged file's record.
func (s *Stage) Lookup(rel string) (File, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[rel]
	return f, ok
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
	if err := f.f.Close(); err != nil {
		return err
	}
	f.file = File{Path: f.rel, SHA256: "sha256:" + hex.EncodeToString(f.h.Sum(nil)), Size: f.n, Records: f.Records}
	f.stage.mu.Lock()
	f.stage.files[f.rel] = f.file
	f.stage.mu.Unlock()
	return nil
}

// File is the record of the file, once closed.
func (f *StagedFile) File() File { return f.file }

// Doc is an opened source document.
type Doc struct {
	io.ReaderAt
	Size int64
	// Bytes holds the whole document when it is small; nil for large ones,
	// which are read through ReaderAt.
	Bytes []byte
	Close func() error
}

// typeDir names the output of each type.
func typeDir(t evidence.Type) string { return t.Dir() }

func sortedSet(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortStrings(s []string) { sort.Strings(s) }
