package evidence

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/extsort"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// Config says what to resolve.
type Config struct {
	Source    string // the evidence directory
	Tenant    string // the contract's tenant
	Selectors contract.Selectors
	// PolicySnapshot, when set, adds the snapshot's metadata and findings.
	PolicySnapshot string
	// AllowCrossTenant is true only when both the contract and the command
	// line allow it.
	AllowCrossTenant bool
	// SkipInvalid records malformed documents instead of failing.
	SkipInvalid bool
	// Types are the document types read below each tenant; nil means
	// advisories, VEX and SBOMs (findings come with PolicySnapshot).
	Types   []Type
	Workers int // 0: twice GOMAXPROCS (reading from the page cache waits on system calls, so two readers per core keep the cores busy)
	// Spill is where the selected documents spill, and under what memory
	// budget.
	Spill Spill
	// KeepCanonical keeps the canonical form of every selected document up
	// to 4 MiB in a temporary file in Spill.Dir (about the size of those
	// documents), for SortedDocs.Canonical: run from a contract then reads
	// each document once.
	KeepCanonical bool
}

// Invalid is a malformed document and why.
type Invalid struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Result is a resolved selection.
type Result struct {
	Docs     *SortedDocs // in plan order (Less)
	Invalid  []Invalid
	Excluded map[string]int // selector → documents it left out
	Ignored  []string       // files that are not *.json documents
	Snapshot *Snapshot
	Bytes    int64        // bytes of the selected documents
	ByType   map[Type]int // selected documents by type
	// Latest is the latest Time among the selected documents (zero when
	// none has one), when LatestKnown: resolving saw it go by, unless a
	// duplicate it counted was left out afterwards.
	Latest      time.Time
	LatestKnown bool
}

// Close removes what the documents spilled. It is safe to call more than
// once, and on a nil Result.
func (r *Result) Close() error {
	if r == nil {
		return nil
	}
	return r.Docs.Close()
}

// InvalidError lists malformed documents (exit 3).
type InvalidError struct{ Docs []Invalid }

func (e *InvalidError) Error() string {
	first := e.Docs[0].Path + ": " + e.Docs[0].Reason
	if len(e.Docs) == 1 {
		return first
	}
	return fmt.Sprintf("%d invalid documents; first: %s", len(e.Docs), first)
}

func (e *InvalidError) Unwrap() error { return exitcode.ErrInvalid }

func (e *InvalidError) ErrorCode() string { return exitcode.CodeEvidenceInvalid }

// CrossTenantError is a document of another tenant found in a tenant's
// tree, or selectors naming another tenant, without permission.
type CrossTenantError struct {
	Path, Tenant, Want string
}

func (e *CrossTenantError) Error() string {
	return fmt.Sprintf("%s: belongs to tenant %q, not %q", e.Path, e.Tenant, e.Want)
}

func (e *CrossTenantError) Unwrap() error { return exitcode.ErrInvalid }

func (e *CrossTenantError) ErrorCode() string { return exitcode.CodeCrossTenantDenied }

// SnapshotError is a problem with the policy snapshot the contract names
// (its snapshot.json or findings), so that callers can point at the
// contract's policy_snapshot rather than at its source.
type SnapshotError struct{ Err error }

func (e *SnapshotError) Error() string { return e.Err.Error() }
func (e *SnapshotError) Unwrap() error { return e.Err }

func linkError(rel string) error {
	return exitcode.Invalidf("%s: a symbolic link; the evidence source must hold regular files and directories only", rel)
}

// checkDirs refuses a symbolic link or a non-directory at any component of
// rel below source (source itself is the contract's choice and may be a
// link). A missing component is not an error: ok is false.
func checkDirs(source, rel string) (ok bool, err error) {
	p := ""
	for _, c := range strings.Split(rel, "/") {
		p = path.Join(p, c)
		st, err := os.Lstat(filepath.Join(source, filepath.FromSlash(p)))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return false, nil
		case err != nil:
			return false, fmt.Errorf("read evidence: %w", err)
		case st.Mode()&fs.ModeSymlink != 0:
			return false, linkError(p)
		case !st.IsDir():
			return false, exitcode.Invalidf("%s: not a directory", p)
		}
	}
	return true, nil
}

// Resolve walks the source for the selected tenants and returns the
// selected documents in export order. Memory does not grow with the number
// of documents: a walker feeds the files to cfg.Workers readers through a
// bounded channel, and the documents they select go into a sorter that
// spills beside the output under cfg.Spill's budget (a quarter of it for
// the documents, an eighth for the duplicate check). Close the result to
// remove what it spilled.
//
// The result does not depend on the budget, the number of workers or
// their timing: an error in walking the source wins over errors of single
// documents, and of those the first in walk order wins; invalid documents
// are listed in walk order.
func Resolve(ctx context.Context, cfg Config) (res *Result, err error) {
	st, err := os.Stat(cfg.Source)
	if err != nil || !st.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		return nil, exitcode.Invalidf("source %s: %v", cfg.Source, unwrapPathErr(err))
	}
	tenants := cfg.Selectors.Tenants
	if len(tenants) == 0 {
		tenants = []string{cfg.Tenant}
	}
	for _, t := range tenants {
		if t != cfg.Tenant && !cfg.AllowCrossTenant {
			return nil, &CrossTenantError{Path: "selectors.tenants", Tenant: t, Want: cfg.Tenant}
		}
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = 2 * runtime.GOMAXPROCS(0)
	}
	docs := newDocSorter(ctx, cfg.Spill, 4)
	defer docs.Close()
	ids := extsort.New(cfg.Spill.Dir, cfg.Spill.budget(8), compareIDs).Track(ctx)
	defer ids.Close()
	var store *canonStore
	if cfg.KeepCanonical {
		store = newCanonStore(ctx, cfg.Spill.Dir)
		defer func() {
			if store != nil {
				store.close()
			}
		}()
	}

	res = &Result{Excluded: map[string]int{}, ByType: map[Type]int{}}
	sel := newSelection(cfg.Selectors)
	var fatalSeq atomic.Int64 // walk position of the first fatal job error, or maxSeq
	fatalSeq.Store(maxSeq)
	jobs := make(chan job, 2*workers)
	results := make(chan job, 2*workers)
	var walkErr error
	go func() {
		defer close(jobs)
		walkErr = walkSource(ctx, cfg, tenants, res, func(j job) {
			if j.seq < fatalSeq.Load() {
				jobs <- j
			}
		})
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if ctx.Err() != nil || j.seq > fatalSeq.Load() {
					continue
				}
				j.doc, j.reason, j.err = readDoc(cfg, &j, sel)
				if j.canon != nil && (j.err != nil || j.reason != "") {
					canonBufs.Put(j.canon)
					j.canon = nil
				}
				results <- j
			}
		}()
	}
	go func() {
		wg.Wait()
		close(results)
	}()

	var invalid []seqInvalid
	var fatal error
	var addErr error
	var rec []byte
	for j := range results {
		switch {
		case addErr != nil:
		case j.err != nil:
			var ct *CrossTenantError
			if errors.As(j.err, &ct) || errors.Is(j.err, exitcode.ErrIO) || isIO(j.err) {
				if j.seq < fatalSeq.Load() {
					fatalSeq.Store(j.seq)
					fatal = j.err
					if ct != nil {
						fatal = ct
					}
				}
				continue
			}
			invalid = append(invalid, seqInvalid{j.seq, Invalid{Path: j.rel, Reason: j.err.Error()}})
		case j.reason != "":
			res.Excluded[j.reason]++
		default:
			for _, l := range j.lines {
				invalid = append(invalid, seqInvalid{j.seq, l})
			}
			if j.canon != nil {
				addErr = store.add(j.doc, j.canon.Bytes())
				canonBufs.Put(j.canon)
				if addErr != nil {
					continue
				}
			}
			if addErr = docs.Add(j.doc); addErr != nil {
				continue
			}
			rec = appendID(rec[:0], j.seq, j.doc)
			addErr = ids.Add(rec)
			if j.doc.Time.After(res.Latest) {
				res.Latest = j.doc.Time
			}
			res.Bytes += j.doc.Size
			res.ByType[j.doc.Type]++
		}
	}
	switch {
	case walkErr != nil:
		return nil, walkErr
	case fatal != nil:
		return nil, fatal
	case ctx.Err() != nil:
		return nil, context.Cause(ctx)
	case addErr != nil:
		return nil, addErr
	}
	skip, dups, err := duplicates(ctx, ids, res)
	if err != nil {
		return nil, err
	}
	invalid = append(invalid, dups...)
	slices.SortFunc(invalid, func(a, b seqInvalid) int { return cmp.Compare(a.seq, b.seq) })
	for _, in := range invalid {
		res.Invalid = append(res.Invalid, in.Invalid)
	}
	if len(res.Invalid) > 0 && !cfg.SkipInvalid {
		return nil, &InvalidError{Docs: res.Invalid}
	}
	n := docs.s.Len()
	sorted, err := docs.Sort(ctx)
	if err != nil {
		return nil, err
	}
	sorted.skip = skip
	sorted.n = n - len(skip)
	res.LatestKnown = len(skip) == 0
	if store != nil {
		if err := store.finish(); err != nil {
			sorted.Close()
			return nil, err
		}
		sorted.canon, store = store, nil
	}
	res.Docs = sorted
	return res, nil
}

const maxSeq = 1<<63 - 1

type seqInvalid struct {
	seq int64
	Invalid
}

// An id record is what the duplicate check sorts: the type order (1 byte),
// tenant and id (uvarint length and bytes), the walk position (8 bytes,
// big-endian), the document's size (varint) and path (the rest).
func appendID(b []byte, seq int64, d *Doc) []byte {
	b = append(b, byte(d.Type.order()))
	b = appendString(b, d.Tenant)
	b = appendString(b, d.ID)
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	b = binary.AppendVarint(b, d.Size)
	return append(b, d.Path...)
}

// splitID returns the key part (type, tenant, id), walk position, size and
// path of an id record.
func splitID(rec []byte) (key []byte, seq int64, size int64, path string, err error) {
	if len(rec) == 0 {
		return nil, 0, 0, "", errRecord
	}
	r := recReader{b: rec[1:]}
	r.str()
	r.str()
	keyLen := len(rec) - len(r.b)
	s := r.bytes(8)
	if r.err != nil {
		return nil, 0, 0, "", r.err
	}
	size = r.varint()
	if r.err != nil {
		return nil, 0, 0, "", r.err
	}
	return rec[:keyLen], int64(binary.BigEndian.Uint64(s)), size, string(r.b), nil
}

// compareIDs orders id records by type, tenant, id, then walk position.
func compareIDs(a, b []byte) int {
	ka, sa, _, _, ea := splitID(a)
	kb, sb, _, _, eb := splitID(b)
	if ea != nil || eb != nil {
		return boolInt(ea != nil) - boolInt(eb != nil)
	}
	if c := bytes.Compare(ka, kb); c != 0 {
		return c
	}
	return cmp.Compare(sa, sb)
}

// duplicates finds documents of one type and tenant with the same id: the
// first in walk order stays, the others are invalid. It returns their
// paths and takes them out of res's totals.
func duplicates(ctx context.Context, ids *extsort.Sorter, res *Result) (map[string]bool, []seqInvalid, error) {
	sorted, err := ids.Sort(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer sorted.Close()
	var skip map[string]bool
	var dups []seqInvalid
	var firstKey []byte
	var firstPath string
	for rec, err := range sorted.All() {
		if err != nil {
			return nil, nil, err
		}
		key, seq, size, p, err := splitID(rec)
		if err != nil {
			return nil, nil, err
		}
		if firstKey == nil || !bytes.Equal(key, firstKey) {
			firstKey = append(firstKey[:0], key...)
			firstPath = p
			continue
		}
		t := Types[key[0]]
		r := recReader{b: key[1:]}
		r.str()
		id := r.str()
		if skip == nil {
			skip = map[string]bool{}
		}
		skip[p] = true
		dups = append(dups, seqInvalid{seq, Invalid{Path: p, Reason: fmt.Sprintf("duplicate %s id %q (also in %s)", t, id, firstPath)}})
		res.Bytes -= size
		res.ByType[t]--
	}
	return skip, dups, nil
}

type job struct {
	seq    int64 // position in walk order
	rel    string
	typ    Type
	tenant string
	doc    *Doc
	reason string // excluded by this selector
	err    error
	lines  []Invalid     // invalid lines of a java-index file (the file stays)
	canon  *bytes.Buffer // the document's canonical form (Config.KeepCanonical); back to canonBufs once stored
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

type ioError struct{ err error }

func (e *ioError) Error() string { return e.err.Error() }
func (e *ioError) Unwrap() error { return e.err }

func isIO(err error) bool {
	var ie *ioError
	return errors.As(err, &ie)
}

// walkSource emits a job per *.json document of the selected tenants (and
// of the policy snapshot) in walk order, and records the files that are
// not documents and the policy snapshot in res.
func walkSource(ctx context.Context, cfg Config, tenants []string, res *Result, emit func(job)) error {
	var seq int64
	walkType := func(rel string, ty Type, tenant string) error {
		return list(ctx, cfg.Source, rel, ty.suffix(), func(r string) {
			emit(job{seq: seq, rel: r, typ: ty, tenant: tenant})
			seq++
		}, func(r string) { res.Ignored = append(res.Ignored, r) })
	}
	for _, t := range slices.Sorted(slices.Values(tenants)) {
		dir := filepath.Join(cfg.Source, t)
		if st, err := os.Lstat(dir); err != nil || !st.IsDir() {
			if err == nil && st.Mode()&fs.ModeSymlink != 0 {
				return linkError(t)
			}
			return exitcode.Invalidf("source %s: no evidence for tenant %q (want the directory %s)", cfg.Source, t, dir)
		}
		types := cfg.Types
		if types == nil {
			types = []Type{Advisory, VEX, SBOM}
		}
		for _, ty := range types {
			if err := walkType(path.Join(t, ty.Dir()), ty, t); err != nil {
				return err
			}
		}
	}
	if cfg.PolicySnapshot != "" {
		snapDir := path.Join(cfg.Tenant, "policy", cfg.PolicySnapshot)
		snap, err := readSnapshot(cfg.Source, snapDir, cfg)
		if err != nil {
			return &SnapshotError{err}
		}
		res.Snapshot = snap
		if err := walkType(path.Join(snapDir, "findings"), Finding, cfg.Tenant); err != nil {
			return &SnapshotError{err}
		}
	}
	return nil
}

// list calls doc for every file named *suffix below source/rel (in
// lexical order) and other for the other files. Links and special files
// are refused.
func list(ctx context.Context, source, rel, suffix string, doc, other func(rel string)) error {
	root := filepath.Join(source, filepath.FromSlash(rel))
	if ok, err := checkDirs(source, path.Dir(rel)); !ok {
		return err
	}
	if _, err := os.Lstat(root); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		r, _ := filepath.Rel(source, p)
		r = filepath.ToSlash(r)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			return exitcode.Invalidf("%s: a symbolic link; the evidence source must hold regular files only", r)
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			return exitcode.Invalidf("%s: not a regular file", r)
		case !strings.HasSuffix(d.Name(), suffix):
			other(r)
			return nil
		}
		doc(r)
		return nil
	})
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("read evidence: %w", err)
		}
		return err
	}
	return nil
}

// smallDoc is the size up to which a document is read into memory once and
// parsed there; larger ones are streamed and read a second time by
// canonjson.Raw. Raw itself holds up to 4 MiB of a document in memory.
const smallDoc = 4 << 20

var docBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// canonBufs hold canonical forms on their way to the canonStore.
var canonBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readDoc hashes one document, extracts what selectors and ordering need,
// and checks that run can canonicalise it: the run-time canonicaliser,
// canonjson.Raw, is the validator, so what run would refuse plan refuses
// (or records as invalid). A document up to smallDoc bytes is read once;
// a larger one is streamed through the hash and the extractor and then
// validated by Raw from the open file.
func readDoc(cfg Config, j *job, sel *selection) (*Doc, string, error) {
	// The walker saw a regular file; opening without following a link and
	// checking the descriptor keeps a file swapped since then (for a FIFO,
	// a device or a link) from blocking or leading outside the source.
	f, err := safefile.OpenNoFollow(filepath.Join(cfg.Source, filepath.FromSlash(j.rel)))
	if nr := (*safefile.NotRegularError)(nil); errors.As(err, &nr) {
		return nil, "", &ioError{exitcode.Invalidf("evidence %s: is a %s, not a regular file", j.rel, nr.Kind)}
	}
	if err != nil {
		return nil, "", &ioError{fmt.Errorf("read evidence %s: %w", j.rel, unwrapPathErr(err))}
	}
	defer f.Close()
	if j.typ == JavaIndex {
		return readJavaIndex(f, j, sel)
	}
	buf := docBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer docBufs.Put(buf)
	if _, err := buf.ReadFrom(io.LimitReader(f, smallDoc+1)); err != nil {
		return nil, "", &ioError{fmt.Errorf("read evidence %s: %w", j.rel, err)}
	}
	head := buf.Bytes()
	small := len(head) <= smallDoc
	h := sha256.New()
	h.Write(head)
	cr := &countReader{r: bytes.NewReader(head)}
	var whole io.ReaderAt = bytes.NewReader(head)
	if !small {
		cr.r = io.MultiReader(bytes.NewReader(head), io.TeeReader(f, h))
		whole = f
	}
	hit := false
	m, err := extract(cr, j.typ, func(p string) {
		if !hit && sel.purl(p) {
			hit = true
		}
	})
	if err != nil {
		if isReadErr(err) {
			return nil, "", &ioError{fmt.Errorf("read evidence %s: %w", j.rel, err)}
		}
		return nil, "", err
	}
	if len(m.errs) > 0 {
		return nil, "", errors.New(strings.Join(m.errs, "; "))
	}
	if m.tenant != "" && m.tenant != j.tenant && !cfg.AllowCrossTenant {
		return nil, "", &CrossTenantError{Path: j.rel, Tenant: m.tenant, Want: j.tenant}
	}
	if j.typ == Finding && m.snapshot != "" && m.snapshot != cfg.PolicySnapshot {
		return nil, "", fmt.Errorf("snapshot_id: %q, but the file is in snapshot %q", m.snapshot, cfg.PolicySnapshot)
	}
	// Drain what the decoder did not need, so the digest covers the file.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return nil, "", &ioError{fmt.Errorf("read evidence %s: %w", j.rel, err)}
	}
	var out io.Writer = io.Discard
	if cfg.KeepCanonical && small {
		j.canon = canonBufs.Get().(*bytes.Buffer)
		j.canon.Reset()
		out = j.canon
	}
	if err := canonical(out, whole, cr.n); err != nil {
		if j.canon != nil {
			canonBufs.Put(j.canon)
			j.canon = nil
		}
		if errors.Is(err, exitcode.ErrInvalid) {
			return nil, "", err
		}
		return nil, "", &ioError{fmt.Errorf("read evidence %s: %w", j.rel, err)}
	}
	d := &Doc{Type: j.typ, Tenant: j.tenant, ID: m.id, Subject: m.subject, Path: j.rel,
		SHA256: digest.Of(h).String(), Size: cr.n, Time: m.time,
		Ecosystems: sortedKeys(m.ecos), Products: sortedKeys(m.about), Format: m.format}
	return d, sel.decide(d, m, hit), nil
}

// canonical writes to w the canonical form of the document in r[0:size],
// checking that run's canonicaliser accepts it: UTF-8, paired surrogates,
// no duplicate key in any object however large, keys and numbers up to
// 4 MiB, nesting within canonjson.MaxRawDepth. A refusal wraps exitcode.ErrInvalid.
func canonical(w io.Writer, r io.ReaderAt, size int64) error {
	_, err := canonjson.Raw(w, r, size)
	var se *canonjson.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON: %w", se)
	}
	return err
}

type readErr struct{ error }

func isReadErr(err error) bool {
	var re *readErr
	return errors.As(err, &re)
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		err = &readErr{err}
	}
	return n, err
}

func readSnapshot(source, dir string, cfg Config) (*Snapshot, error) {
	rel := path.Join(dir, "snapshot.json")
	ok, err := checkDirs(source, dir)
	if err != nil {
		return nil, err
	}
	if st, err := os.Lstat(filepath.Join(source, filepath.FromSlash(rel))); ok && err == nil && !st.Mode().IsRegular() {
		if st.Mode()&fs.ModeSymlink != 0 {
			return nil, linkError(rel)
		}
		return nil, exitcode.Invalidf("%s: not a regular file", rel)
	}
	f, err := safefile.OpenNoFollow(filepath.Join(source, filepath.FromSlash(rel)))
	if nr := (*safefile.NotRegularError)(nil); errors.As(err, &nr) {
		return nil, exitcode.Invalidf("policy snapshot %q: %s is a %s, not a regular file", cfg.PolicySnapshot, rel, nr.Kind)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, exitcode.Invalidf("policy snapshot %q: %s does not exist", cfg.PolicySnapshot, rel)
		}
		return nil, fmt.Errorf("read policy snapshot: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<20+1))
	if err != nil {
		return nil, fmt.Errorf("read policy snapshot %s: %w", rel, err)
	}
	if len(b) > 64<<20 {
		return nil, exitcode.Invalidf("%s: larger than 64 MiB", rel)
	}
	s, errs := parseSnapshot(b)
	if len(errs) == 0 {
		if err := canonical(io.Discard, bytes.NewReader(b), int64(len(b))); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return nil, &InvalidError{Docs: []Invalid{{Path: rel, Reason: strings.Join(errs, "; ")}}}
	}
	if s.ID != cfg.PolicySnapshot {
		return nil, &InvalidError{Docs: []Invalid{{Path: rel, Reason: fmt.Sprintf("snapshot_id: %q, but the directory is %q", s.ID, cfg.PolicySnapshot)}}}
	}
	if s.Tenant != cfg.Tenant && !cfg.AllowCrossTenant {
		return nil, &CrossTenantError{Path: rel, Tenant: s.Tenant, Want: cfg.Tenant}
	}
	s.Path, s.SHA256, s.Size = rel, digest.Sum(b).String(), int64(len(b))
	return s, nil
}

func rawCanon(b []byte) ([]byte, error) { return canonjson.RawBytes(b) }

// --- selectors ---

type selection struct {
	s    contract.Selectors
	ecos map[string]bool
}

func newSelection(s contract.Selectors) *selection {
	sel := &selection{s: s}
	if len(s.Ecosystems) > 0 {
		sel.ecos = map[string]bool{}
		for _, e := range s.Ecosystems {
			if t, ok := contract.NormalizeEcosystem(e); ok {
				sel.ecos[t] = true
			} else {
				sel.ecos[strings.ToLower(e)] = true
			}
		}
	}
	return sel
}

func (sel *selection) purl(p string) bool {
	for _, pre := range sel.s.Products {
		if MatchPrefix(p, pre) {
			return true
		}
	}
	return false
}

// Excluded reasons, one per selector.
const (
	ExclNoTime       = "no_time"
	ExclSince        = "since"
	ExclUntil        = "until"
	ExclProducts     = "products"
	ExclEcosystems   = "ecosystems"
	ExclSBOMSubjects = "sbom_subjects"
)

// decide returns "" when d is selected, else the selector that left it
// out. productHit says whether any purl in the document matched a products
// prefix.
func (sel *selection) decide(d *Doc, m *meta, productHit bool) string {
	s := sel.s
	if d.Type == JavaIndex {
		// An index file has no time, subject or product of its own: only
		// the tenant and ecosystems selectors apply to it.
		if sel.ecos != nil && !sel.ecos["maven"] {
			return ExclEcosystems
		}
		return ""
	}
	if !s.Since.IsZero() || !s.Until.IsZero() {
		switch {
		case d.Time.IsZero():
			return ExclNoTime
		case !s.Since.IsZero() && d.Time.Before(s.Since):
			return ExclSince
		case !s.Until.IsZero() && !d.Time.Before(s.Until):
			return ExclUntil
		}
	}
	if len(s.Products) > 0 && !productHit {
		return ExclProducts
	}
	if sel.ecos != nil && !slices.ContainsFunc(d.Ecosystems, func(e string) bool { return sel.ecos[e] }) {
		return ExclEcosystems
	}
	if d.Type == SBOM && len(s.SBOMSubjects) > 0 && !matchSubjects(m.subjects, s.SBOMSubjects) {
		return ExclSBOMSubjects
	}
	return ""
}

func matchSubjects(have, want []string) bool {
	for _, w := range want {
		for _, h := range have {
			if h == w || strings.HasPrefix(w, "pkg:") && MatchPrefix(h, w) {
				return true
			}
		}
	}
	return false
}
