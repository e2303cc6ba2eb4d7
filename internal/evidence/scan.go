package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
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

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
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
	Workers     int // 0: GOMAXPROCS
}

// Invalid is a malformed document and why.
type Invalid struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Result is a resolved selection.
type Result struct {
	Docs     []*Doc // sorted by Less
	Invalid  []Invalid
	Excluded map[string]int // selector → documents it left out
	Ignored  []string       // files that are not *.json documents
	Snapshot *Snapshot
	Bytes    int64 // bytes of the selected documents
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

// CrossTenantError is a document of another tenant found in a tenant's
// tree, or selectors naming another tenant, without permission.
type CrossTenantError struct {
	Path, Tenant, Want string
}

func (e *CrossTenantError) Error() string {
	return fmt.Sprintf("%s: belongs to tenant %q, not %q (cross-tenant exports need allow_cross_tenant: true in the contract and --allow-cross-tenant)", e.Path, e.Tenant, e.Want)
}

func (e *CrossTenantError) Unwrap() error { return exitcode.ErrInvalid }

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
// selected documents in export order.
func Resolve(ctx context.Context, cfg Config) (*Result, error) {
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
	res := &Result{Excluded: map[string]int{}}
	var jobs []job
	for _, t := range slices.Sorted(slices.Values(tenants)) {
		dir := filepath.Join(cfg.Source, t)
		if st, err := os.Lstat(dir); err != nil || !st.IsDir() {
			if err == nil && st.Mode()&fs.ModeSymlink != 0 {
				return nil, linkError(t)
			}
			return nil, exitcode.Invalidf("source %s: no evidence for tenant %q (want the directory %s)", cfg.Source, t, dir)
		}
		for _, ty := range []Type{Advisory, VEX, SBOM} {
			js, ign, err := list(cfg.Source, path.Join(t, ty.Dir()), ty, t)
			if err != nil {
				return nil, err
			}
			jobs = append(jobs, js...)
			res.Ignored = append(res.Ignored, ign...)
		}
	}
	if cfg.PolicySnapshot != "" {
		snapDir := path.Join(cfg.Tenant, "policy", cfg.PolicySnapshot)
		snap, err := readSnapshot(cfg.Source, snapDir, cfg)
		if err != nil {
			return nil, &SnapshotError{err}
		}
		res.Snapshot = snap
		js, ign, err := list(cfg.Source, path.Join(snapDir, "findings"), Finding, cfg.Tenant)
		if err != nil {
			return nil, &SnapshotError{err}
		}
		jobs = append(jobs, js...)
		res.Ignored = append(res.Ignored, ign...)
	}
	sel := newSelection(cfg.Selectors)
	if err := runJobs(ctx, cfg, jobs, sel); err != nil {
		return nil, err
	}
	seen := map[string]string{}
	for i := range jobs {
		j := &jobs[i]
		if j.err != nil {
			var ct *CrossTenantError
			if errors.As(j.err, &ct) {
				return nil, ct
			}
			if errors.Is(j.err, exitcode.ErrIO) || isIO(j.err) {
				return nil, j.err
			}
			res.Invalid = append(res.Invalid, Invalid{Path: j.rel, Reason: j.err.Error()})
			continue
		}
		if j.reason != "" {
			res.Excluded[j.reason]++
			continue
		}
		key := string(j.doc.Type) + "\x00" + j.doc.Tenant + "\x00" + j.doc.ID
		if first, dup := seen[key]; dup {
			res.Invalid = append(res.Invalid, Invalid{Path: j.rel, Reason: fmt.Sprintf("duplicate %s id %q (also in %s)", j.doc.Type, j.doc.ID, first)})
			continue
		}
		seen[key] = j.rel
		res.Docs = append(res.Docs, j.doc)
		res.Bytes += j.doc.Size
	}
	if len(res.Invalid) > 0 && !cfg.SkipInvalid {
		return nil, &InvalidError{Docs: res.Invalid}
	}
	slices.SortFunc(res.Docs, Less)
	return res, nil
}

type job struct {
	rel    string
	typ    Type
	tenant string
	doc    *Doc
	reason string // excluded by this selector
	err    error
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

// list returns a job per *.json file below source/rel (in lexical order)
// and the other files. Links and special files are refused.
func list(source, rel string, t Type, tenant string) ([]job, []string, error) {
	root := filepath.Join(source, filepath.FromSlash(rel))
	if ok, err := checkDirs(source, path.Dir(rel)); !ok {
		return nil, nil, err
	}
	if _, err := os.Lstat(root); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	var jobs []job
	var ignored []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
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
		case !strings.HasSuffix(d.Name(), ".json"):
			ignored = append(ignored, r)
			return nil
		}
		jobs = append(jobs, job{rel: r, typ: t, tenant: tenant})
		return nil
	})
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, nil, fmt.Errorf("read evidence: %w", err)
		}
		return nil, nil, err
	}
	return jobs, ignored, nil
}

func runJobs(ctx context.Context, cfg Config, jobs []job, sel *selection) error {
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				j := &jobs[i]
				j.doc, j.reason, j.err = readDoc(cfg, j, sel)
			}
		}()
	}
	var err error
	for i := range jobs {
		if err = ctx.Err(); err != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err != nil {
		return context.Cause(ctx)
	}
	return nil
}

// smallDoc is the size up to which a document is read into memory once and
// parsed there; larger ones are streamed and read a second time by
// canonjson.Raw. Raw itself holds up to 4 MiB of a document in memory.
const smallDoc = 4 << 20

var docBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

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
	if err := canonical(whole, cr.n); err != nil {
		if errors.Is(err, exitcode.ErrInvalid) {
			return nil, "", err
		}
		return nil, "", &ioError{fmt.Errorf("read evidence %s: %w", j.rel, err)}
	}
	d := &Doc{Type: j.typ, Tenant: j.tenant, ID: m.id, Subject: m.subject, Path: j.rel,
		SHA256: digest.Of(h).String(), Size: cr.n, Time: m.time,
		Ecosystems: InternAll(sortedKeys(m.ecos)), Products: InternAll(sortedKeys(m.about)), Format: Intern(m.format)}
	return d, sel.decide(d, m, hit), nil
}

// canonical checks that run's canonicaliser accepts the document in
// r[0:size]: UTF-8, paired surrogates, no duplicate key in any object
// however large, keys and numbers up to 4 MiB, nesting within
// canonjson.MaxRawDepth. A refusal wraps exitcode.ErrInvalid.
func canonical(r io.ReaderAt, size int64) error {
	_, err := canonjson.Raw(io.Discard, r, size)
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
		if err := canonical(bytes.NewReader(b), int64(len(b))); err != nil {
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
