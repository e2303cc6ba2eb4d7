// Package bundle assembles a bundle (docs/format.md) from payload sources: it hashes
// every payload file, lets the caller render export.json and README.md from
// that summary, writes checksums.txt (with its Merkle root) and
// verify-export.sh, and streams everything through package tarball in
// byte-wise path order.
//
// The payload is walked twice: once to hash every file (on all cores) and
// once while it is written, when each file is read and hashed again; a
// file that changed, appeared or disappeared in between is an error
// (ErrChanged, exit 5), so checksums.txt always describes the archive. A
// caller that wrote the files and recorded their digests passes them as
// Options.Known: the first pass then takes a known file's digest (when its
// name and size match) without opening it, so such a file is read once, by
// the writing pass, which still refuses it (ErrChanged) if its bytes are
// not the digest checksums.txt gives. Between the passes the payload's
// checksums lines wait in an unlinked temporary file.
// Memory depends neither on the size nor on the number of files: a
// directory is walked depth first in byte-wise order (DirSources), holding
// only the listings of the directories on the current path.
package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"iter"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stella-ops/stella-export/internal/checksums"
	"github.com/stella-ops/stella-export/internal/ctxio"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/merkle"
	"github.com/stella-ops/stella-export/internal/safepath"
	"github.com/stella-ops/stella-export/internal/tarball"
)

// Source is one payload entry. Directories have names ending in '/' and no
// Open.
type Source struct {
	Name string
	Size int64
	Open func() (io.ReadCloser, error)
	// Origin names the source in errors (e.g. the file on disk).
	Origin string
}

// Dir reports whether s is a directory entry.
func (s Source) Dir() bool { return strings.HasSuffix(s.Name, "/") }

// Summary describes the hashed payload; render makes the documents from it.
type Summary struct {
	Files int           // payload files
	Bytes int64         // payload bytes
	Root  digest.SHA256 // RFC 6962 root of the payload lines alone

	sums *sumFile
}

// Entries yields the payload files' entries in byte-wise order, read back
// from a temporary file: only while render runs; afterwards it yields one
// error.
func (s Summary) Entries() iter.Seq2[checksums.Entry, error] {
	return func(yield func(checksums.Entry, error) bool) {
		if s.sums == nil || s.sums.closed {
			yield(checksums.Entry{}, errEntriesGone)
			return
		}
		r := s.sums.lines()
		for {
			line, err := r.next()
			if err == io.EOF {
				return
			}
			var e checksums.Entry
			if err == nil {
				e.Digest, err = lineDigest(line)
				e.Path = string(linePath(line))
			}
			if !yield(e, err) || err != nil {
				return
			}
		}
	}
}

// Docs are the generated documents of one bundle.
type Docs struct {
	Manifest []byte // export.json, canonical JSON
	Readme   []byte // README.md
}

// Progress receives progress as bytes are hashed and written.
type Progress interface {
	// Phase starts "hashing" (total -1: not known before the walk) or
	// "writing" (total: the payload bytes).
	Phase(name string, total int64)
	Add(n int64)
}

type nopProgress struct{}

func (nopProgress) Phase(string, int64) {}
func (nopProgress) Add(int64)           {}

// Options configure Write.
type Options struct {
	ModTime     time.Time // pinned time; zero means tarball.DefaultModTime
	Level       int       // gzip level; zero means tarball.DefaultLevel
	Concurrency int       // hashing and compression workers; zero means GOMAXPROCS
	Progress    Progress
	// TempDir holds the temporary file of the payload's checksums lines
	// (about 70 bytes plus the path per file); empty means os.TempDir().
	TempDir string
	// Signer, if set, signs export.json and a top-level provenance.json
	// into export.json.sig and provenance.json.sig. It must be
	// deterministic (ECDSA with RFC 6979, Ed25519) for the bundle to stay
	// reproducible.
	Signer Signer
	// Known, if set, yields the digests of payload files the caller
	// already knows (it wrote them), in strictly increasing byte-wise
	// order of names; it may leave files out and name files that are not
	// in the payload (they are skipped). The hashing pass takes the digest
	// of a file whose name and size match an entry from it instead of
	// reading the file; every other file is hashed. A wrong digest cannot
	// make a bundle whose checksums.txt lies: the writing pass hashes every
	// file and refuses one whose bytes differ (ErrChanged).
	Known iter.Seq2[KnownFile, error]
}

// KnownFile is the digest of a payload file that the caller knows.
type KnownFile struct {
	Name   string // as in Source.Name
	Size   int64
	Digest digest.SHA256
}

// Signer makes the in-bundle signatures (docs/format.md#signatures).
// signing.DocSigner implements it; a test may use any other.
type Signer interface {
	// SigFile returns the bytes of the .sig file of the document whose
	// SHA-256 is d; open gives the document itself to algorithms that sign
	// the message rather than its digest.
	SigFile(d digest.SHA256, open func() (io.ReadCloser, error)) ([]byte, error)
	// Deterministic reports whether the same document always gives the
	// same signature, as a reproducible bundle needs.
	Deterministic() bool
	// Fingerprint names the key in README.md, "sha256:<hex>".
	Fingerprint() string
}

// Result is what Write produced.
type Result struct {
	Root    digest.SHA256 // the root line of checksums.txt
	Payload Summary       // its Entries are no longer available
	Entries int           // archive entries, directories included
}

// ErrChanged is wrapped when a payload file's content differs between the
// hashing pass and the writing pass.
var ErrChanged = errors.New("input changed while packaging")

// Write hashes the payload, asks render for the documents and writes the
// bundle to w. Names must be safe, unique and not reserved
// (layout.Reserved).
//
// Memory does not depend on the number of files: the hashing pass writes
// each file's checksums line to a temporary file in opt.TempDir, and the
// writing pass reads the sources again and checks each file against its
// line, in step. The hashing pass reads only the files opt.Known does not
// give.
func Write(ctx context.Context, w io.Writer, sources Sources, render func(Summary) (Docs, error), opt Options) (*Result, error) {
	if opt.Progress == nil {
		opt.Progress = nopProgress{}
	}
	sf, err := newSumFile(ctx, opt.TempDir)
	if err != nil {
		return nil, err
	}
	defer sf.close()
	h, err := hashAll(ctx, sources, sf, opt)
	if err != nil {
		return nil, err
	}
	docs, err := render(h.sum)
	if err != nil {
		return nil, err
	}

	generated := map[string][]byte{
		layout.Manifest: docs.Manifest,
		layout.Readme:   docs.Readme,
		layout.Script:   VerifyScript,
	}
	if opt.Signer != nil {
		if err := signDocs(generated, h.prov, h.provDigest, opt.Signer); err != nil {
			return nil, err
		}
	}
	var gen []checksums.Entry
	for name, data := range generated {
		gen = append(gen, checksums.Entry{Path: name, Digest: sha256.Sum256(data)})
	}
	slices.SortFunc(gen, func(a, b checksums.Entry) int { return strings.Compare(a.Path, b.Path) })

	// checksums.txt: its root and size before it is written.
	var mb merkle.Builder
	size := int64(len("root sha256:") + 64 + 1)
	for m := newMergedLines(sf, gen); ; {
		line, err := m.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		mb.Add(line[:len(line)-1])
		size += int64(len(line))
	}
	root := mb.Root()

	// The generated files in name order, checksums.txt among them.
	type item struct {
		name string
		data []byte
	}
	var items []item
	for _, g := range gen {
		items = append(items, item{g.Path, generated[g.Path]})
	}
	items = append(items, item{name: layout.Checksums})
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.name, b.name) })

	tw, err := tarball.NewWriter(w, tarball.Options{ModTime: opt.ModTime, Level: opt.Level, Concurrency: opt.Concurrency})
	if err != nil {
		return nil, err
	}
	entries := 0
	writeGenerated := func(before string) error {
		for len(items) > 0 && (before == "" || items[0].name < before) {
			it := items[0]
			items = items[1:]
			var err error
			if it.name == layout.Checksums {
				r := &sumsReader{m: newMergedLines(sf, gen), line: []byte("root " + root.String() + "\n")}
				err = tw.File(it.name, size, r)
			} else {
				err = tw.File(it.name, int64(len(it.data)), bytes.NewReader(it.data))
			}
			if err != nil {
				return err
			}
			entries++
		}
		return nil
	}

	opt.Progress.Phase("writing", h.sum.Bytes)
	lines := sf.lines()
	check := newChecker()
	dirs := sha256.New()
	for s, err := range sources.All() {
		if err == nil {
			err = ctx.Err()
		}
		if err == nil {
			err = check.next(s)
		}
		if err == nil {
			err = writeGenerated(s.Name)
		}
		if err != nil {
			return nil, err
		}
		entries++
		if s.Dir() {
			dirs.Write([]byte(s.Name + "\x00"))
			if err := tw.Dir(s.Name); err != nil {
				return nil, err
			}
			continue
		}
		line, err := lines.next()
		if err == io.EOF {
			return nil, exitcode.Conflictf("%s: %w: it was not there when the payload was hashed", s.origin(), ErrChanged)
		}
		if err != nil {
			return nil, err
		}
		if p := string(linePath(line)); p != s.Name {
			if p < s.Name {
				return nil, exitcode.Conflictf("%s: %w: it is gone", p, ErrChanged)
			}
			return nil, exitcode.Conflictf("%s: %w: it was not there when the payload was hashed", s.origin(), ErrChanged)
		}
		want, err := lineDigest(line)
		if err != nil {
			return nil, err
		}
		if err := writeSource(ctx, tw, s, want, opt.Progress); err != nil {
			return nil, err
		}
	}
	if line, err := lines.next(); err == nil {
		return nil, exitcode.Conflictf("%s: %w: it is gone", linePath(line), ErrChanged)
	} else if err != io.EOF {
		return nil, err
	}
	if digest.Of(dirs) != h.dirs {
		return nil, exitcode.Conflictf("%w: its directories differ from those hashed", ErrChanged)
	}
	if err := writeGenerated(""); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	h.sum.sums = nil
	return &Result{Root: root, Payload: h.sum, Entries: entries}, nil
}

// checker refuses, in stream order, a name that is unsafe, reserved,
// repeated or out of order.
type checker struct {
	last  string
	first bool
}

func newChecker() *checker { return &checker{first: true} }

func (c *checker) next(s Source) error {
	if err := safepath.Check(s.Name, s.Dir()); err != nil {
		return fmt.Errorf("%s: %w", s.origin(), err)
	}
	if layout.Reserved(s.Name) {
		return exitcode.Invalidf("%s: %q is generated by stella-export and cannot be part of the payload", s.origin(), s.Name)
	}
	if !c.first && s.Name <= c.last {
		if s.Name == c.last {
			return exitcode.Invalidf("%s: duplicate payload name %q", s.origin(), s.Name)
		}
		return fmt.Errorf("%s: payload sources out of order: %q after %q", s.origin(), s.Name, c.last)
	}
	c.first, c.last = false, s.Name
	return nil
}

// signDocs adds export.json.sig and, when the payload has a top-level
// provenance.json (prov, whose hashing pass gave d), provenance.json.sig.
// provenance.json is signed by the digest of the hashing pass (the
// writing pass checks the bytes again), so ECDSA never reads it twice.
func signDocs(generated map[string][]byte, prov *Source, d digest.SHA256, s Signer) error {
	if !s.Deterministic() {
		return errors.New("in-bundle signatures need a deterministic signing key (ECDSA or Ed25519) to keep the bundle reproducible")
	}
	m := generated[layout.Manifest]
	sig, err := s.SigFile(digest.Sum(m), func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(m)), nil })
	if err != nil {
		return fmt.Errorf("sign %s: %w", layout.Manifest, err)
	}
	generated[layout.Manifest+layout.SigSuffix] = sig
	if prov == nil {
		return nil
	}
	sig, err = s.SigFile(d, prov.Open)
	if err != nil {
		return fmt.Errorf("sign %s: %w", prov.origin(), err)
	}
	generated[layout.Provenance+layout.SigSuffix] = sig
	return nil
}

func (s Source) origin() string {
	if s.Origin != "" {
		return s.Origin
	}
	return s.Name
}

func writeSource(ctx context.Context, tw *tarball.Writer, s Source, want digest.SHA256, p Progress) error {
	rc, err := s.Open()
	if err != nil {
		return fmt.Errorf("open %s: %w", s.origin(), err)
	}
	defer rc.Close()
	h := sha256.New()
	r := io.TeeReader(ctxio.NewReader(ctx, &progressReader{r: rc, p: p}), h)
	if err := tw.File(s.Name, s.Size, r); err != nil {
		var sr *tarball.ShortReadError
		if errors.As(err, &sr) {
			return exitcode.Cause(ctx, fmt.Errorf("%s: %w: %v", s.origin(), ErrChanged, err))
		}
		return exitcode.Cause(ctx, fmt.Errorf("write %s: %w", s.origin(), err))
	}
	if got := digest.Of(h); got != want {
		return exitcode.Conflictf("%s: %w: its SHA-256 was %s and is now %s", s.origin(), ErrChanged, want.Hex(), got.Hex())
	}
	return nil
}

// progressReader reports the bytes read to p.
type progressReader struct {
	r io.Reader
	p Progress
}

func (c *progressReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.Add(int64(n))
	return n, err
}

// hashed is what the hashing pass found.
type hashed struct {
	sum        Summary
	dirs       digest.SHA256 // of the directory names, to see them change
	prov       *Source       // the top-level provenance.json, if any
	provDigest digest.SHA256
}

// job is one source in flight through the hashing pass.
type job struct {
	src  Source
	done chan result // nil for a directory
}

type result struct {
	d   digest.SHA256
	err error
}

// hashAll reads sources once: it checks their names and the verify limits,
// hashes the files on opt.Concurrency workers (taking from opt.Known the
// digests it gives) and writes their lines, in order, to sf. A bounded
// window of files is in flight at a time.
func hashAll(ctx context.Context, sources Sources, sf *sumFile, opt Options) (*hashed, error) {
	opt.Progress.Phase("hashing", -1)
	workers := opt.Concurrency
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	todo := make(chan job)
	order := make(chan job, 16*workers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			for j := range todo {
				d, err := hashSource(ctx, j.src, buf, opt.Progress, &mu)
				if err != nil {
					cancel()
				}
				j.done <- result{d, err}
			}
		}()
	}

	// The consumer takes the results in order.
	h := &hashed{}
	var (
		b        merkle.Builder
		dirs     = sha256.New()
		firstErr error
		consumed = make(chan struct{})
	)
	go func() {
		defer close(consumed)
		var canceled error
		for j := range order {
			if j.done == nil {
				dirs.Write([]byte(j.src.Name + "\x00"))
				continue
			}
			r := <-j.done
			switch {
			case firstErr != nil:
			case errors.Is(r.err, context.Canceled):
				canceled = r.err
			case r.err != nil:
				firstErr = r.err
			case canceled == nil:
				line, err := sf.add(j.src.Name, r.d)
				if err != nil {
					firstErr = err
					cancel()
					continue
				}
				b.Add(line)
				if j.src.Name == layout.Provenance {
					p := j.src
					h.prov, h.provDigest = &p, r.d
				}
			}
		}
		if firstErr == nil {
			firstErr = canceled
		}
	}()

	var walkErr error
	known := newKnownMerge(opt.Known)
	defer known.stop()
	check := newChecker()
	limits := newLimitCounter(verifyLimits)
	for s, err := range sources.All() {
		if parent.Err() != nil {
			break
		}
		if err == nil {
			err = check.next(s)
		}
		if err != nil {
			walkErr = err
			break
		}
		limits.add(s)
		if limits.over() {
			// Count the rest, to say by how much, but hash no more.
			cancel()
			continue
		}
		if ctx.Err() != nil {
			break
		}
		if s.Dir() {
			order <- job{src: s}
			continue
		}
		h.sum.Bytes += s.Size
		j := job{src: s, done: make(chan result, 1)}
		d, ok, err := known.lookup(s)
		if err != nil {
			walkErr = err
			break
		}
		if ok {
			// Its result is ready: it goes to the consumer, in order,
			// without a worker.
			j.done <- result{d: d}
			mu.Lock()
			opt.Progress.Add(s.Size)
			mu.Unlock()
			order <- j
			continue
		}
		order <- j
		todo <- j
	}
	close(todo)
	close(order)
	wg.Wait()
	<-consumed
	switch {
	case walkErr != nil:
		return nil, walkErr
	case limits.over():
		return nil, limits.err()
	case firstErr != nil:
		return nil, firstErr
	}
	if err := parent.Err(); err != nil {
		return nil, err
	}
	if err := sf.flush(); err != nil {
		return nil, err
	}
	h.sum.Files, h.sum.Root, h.sum.sums = sf.n, b.Root(), sf
	h.dirs = digest.Of(dirs)
	return h, nil
}

func hashSource(ctx context.Context, s Source, buf []byte, p Progress, mu *sync.Mutex) (digest.SHA256, error) {
	rc, err := s.Open()
	if err != nil {
		return digest.SHA256{}, fmt.Errorf("open %s: %w", s.origin(), err)
	}
	defer rc.Close()
	h := sha256.New()
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return digest.SHA256{}, err
		}
		m, err := rc.Read(buf)
		h.Write(buf[:m])
		n += int64(m)
		if m > 0 {
			mu.Lock()
			p.Add(int64(m))
			mu.Unlock()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return digest.SHA256{}, fmt.Errorf("read %s: %w", s.origin(), err)
		}
	}
	if n != s.Size {
		return digest.SHA256{}, exitcode.Conflictf("%s: %w: size was %d bytes and is now %d", s.origin(), ErrChanged, s.Size, n)
	}
	return digest.Of(h), nil
}

// knownMerge takes the entries of Options.Known in step with the payload's
// files: both come in byte-wise order of names, so one entry is held at a
// time.
type knownMerge struct {
	next    func() (KnownFile, error, bool) // nil: nothing is known
	stop    func()
	cur     KnownFile
	have    bool // cur is an entry not yet passed by the walk
	ended   bool
	started bool // an entry was taken; cur.Name is the last name seen
}

func newKnownMerge(known iter.Seq2[KnownFile, error]) *knownMerge {
	if known == nil {
		return &knownMerge{stop: func() {}}
	}
	next, stop := iter.Pull2(known)
	return &knownMerge{next: next, stop: stop}
}

// lookup returns the known digest of the file s, and whether there is one
// (an entry of s's name and size). Entries before s's name match no file
// and are passed over.
func (k *knownMerge) lookup(s Source) (digest.SHA256, bool, error) {
	for k.next != nil {
		if !k.have {
			if k.ended {
				break
			}
			f, err, ok := k.next()
			if err != nil {
				return digest.SHA256{}, false, fmt.Errorf("read known payload digests: %w", err)
			}
			if !ok {
				k.ended = true
				break
			}
			if k.started && f.Name <= k.cur.Name {
				return digest.SHA256{}, false, fmt.Errorf("known payload digests out of order: %q after %q", f.Name, k.cur.Name)
			}
			k.cur, k.have, k.started = f, true, true
		}
		switch {
		case k.cur.Name < s.Name:
			k.have = false
		case k.cur.Name > s.Name:
			return digest.SHA256{}, false, nil
		default:
			k.have = false
			return k.cur.Digest, k.cur.Size == s.Size, nil
		}
	}
	return digest.SHA256{}, false, nil
}
