// Package verify checks a bundle the way an auditor would, offline and in one
// streaming pass with nothing extracted to disk: the archive format of
// docs/format.md#archive (gzip header, entry order, types, modes, owners, pinned
// times), every digest in checksums.txt, the Merkle root, missing and extra
// files, the documents every bundle must carry, and inner .tgz bundles that
// carry their own checksums.txt, recursively to a bounded depth.
//
// An archive that is unsafe to read (traversal, links, bombs, malformed
// headers, truncation) is refused with an error (exit 3). Everything else
// that does not hold is a Problem in the Report (exit 1).
//
// # Verify once, then use the verified bytes
//
// A caller that needs a bundle's content (applying a delta, loading a base
// mirror, announcing an export) reads it in the same pass as the
// verification, through Options.Extract: each regular file of the outer
// bundle is offered to the caller as it streams past, and a writer the
// caller returns receives exactly the bytes verify hashes, nothing more or
// less. What verify knows when: entries are sorted byte-wise, so files
// named before "checksums.txt" (README.md, for one) stream past before it,
// and whether the archive holds exactly the files checksums.txt lists is
// known only at its end. Nothing handed to Extract may therefore be
// trusted, or acted on outside the caller's own scratch space, until Verify
// has returned a nil error. Callers either write extracted files to a
// staging directory they remove on failure, or hold a small document in
// memory under a cap decided from the entry's size before any byte is read.
// After success the digest of every file is the one Report.Checksums
// lists: a caller compares other documents' claims (a mirror.json, a
// delta.json) against those digests rather than hashing or reading the
// bundle again.
package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/checksums"
	"github.com/stella-ops/stella-export/internal/ctxio"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/provenance"
	"github.com/stella-ops/stella-export/internal/safepath"
	"github.com/stella-ops/stella-export/internal/tarball"
)

// DefaultMaxDepth is how deep inner bundles are followed.
const DefaultMaxDepth = 3

// Options configure Verify.
type Options struct {
	ExpectRoot   string // "sha256:<hex>"; empty means not pinned
	ExpectSHA256 string // bare hex of the whole archive; empty means not pinned
	Limits       tarball.Limits
	MaxDepth     int // 0 means DefaultMaxDepth; negative means inner bundles are only hashed
	// ContentOnly skips the format checks of docs/format.md#archive and
	// docs/format.md#contents
	// (header fields, order, directory entries, required documents) and
	// checks only content: checksums.txt, its root, every digest, missing
	// and extra files. Inner bundles are always checked this way, since
	// their format belongs to whoever sealed them.
	ContentOnly bool
	// Progress, if set, is called with the number of compressed bytes read.
	Progress func(n int64)
	// Signatures, if set, checks signatures: in-bundle ones and the
	// detached files it lists (see signatures.go).
	Signatures *SignatureOptions
	// Extract, if set, is called for every regular file of the outer
	// bundle, in archive order, with its name and size before its content
	// is read. A non-nil writer it returns receives the file's content,
	// exactly the bytes that are hashed, and is closed after the last of
	// them, or when verification stops; an error from Extract, Write or
	// Close stops the verification and is returned as is. The content is
	// to be trusted only once Verify returns a nil error (see the package
	// doc).
	Extract func(name string, size int64) (io.WriteCloser, error)
	// After, if set, is called once the outer bundle has been read to its
	// end, before signatures are checked; the problems it returns are
	// added to the report, and an error stops the verification. verify
	// --identity/--keyring uses it to compare what Extract decrypted with
	// the plaintext manifest.
	After func(rep *Report) ([]Problem, error)
}

// Problem is one check that failed.
type Problem struct {
	Path   string `json:"path,omitempty"`
	Check  string `json:"check"`
	Detail string `json:"detail"`
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Check + ": " + p.Detail
	}
	return p.Path + ": " + p.Check + ": " + p.Detail
}

// Report is the result of one verification.
type Report struct {
	Path         string    `json:"path,omitempty"` // archive, or entry path for inner bundles
	SHA256       string    `json:"sha256"`         // bare hex of the archive bytes
	Root         string    `json:"root,omitempty"` // line 1 of checksums.txt
	Files        int       `json:"files"`
	Bytes        int64     `json:"bytes"` // bytes of all regular files
	ExportID     string    `json:"exportId,omitempty"`
	Profile      string    `json:"profile,omitempty"`
	ModTime      string    `json:"mtime,omitempty"`
	Inner        []*Report `json:"inner,omitempty"`
	Problems     []Problem `json:"problems,omitempty"`
	OK           bool      `json:"ok"`
	InnerSkipped []string  `json:"opaque,omitempty"` // .tgz entries that are not bundles
	// Signatures lists every signature found and what became of it.
	Signatures []SignatureCheck `json:"signatures,omitempty"`
	// Decrypted is how many encrypted files were decrypted and matched
	// their plaintext manifest (set by an Options.After that decrypts).
	Decrypted int `json:"decrypted,omitempty"`
	// Log is the transparency-log receipt check (verify --receipt).
	Log *LogCheck `json:"log,omitempty"`

	checksums *checksums.File
	// docs holds, for the outer bundle, the bytes of the small documents
	// signature checks need (export.json, *.sig, and provenance.json for
	// an Ed25519 key), and digests the SHA-256 of the signed ones.
	docs    map[string][]byte
	digests map[string]digest.SHA256
	// prov summarizes provenance.json when an attestation is checked, or
	// provErr says why it could not.
	prov    *provenance.Summary
	provErr error
}

// Checksums returns the parsed checksums.txt, or nil.
func (r *Report) Checksums() *checksums.File { return r.checksums }

func (r *Report) add(path, check, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{Path: path, Check: check, Detail: fmt.Sprintf(format, args...)})
}

// AllProblems lists the report's problems and those of inner bundles, inner
// paths prefixed with their bundle's entry name.
func (r *Report) AllProblems() []Problem {
	out := append([]Problem(nil), r.Problems...)
	for _, in := range r.Inner {
		for _, p := range in.AllProblems() {
			if p.Path != "" {
				p.Path = in.Path + "!" + p.Path
			} else {
				p.Path = in.Path
			}
			out = append(out, p)
		}
	}
	return out
}

// FailedError is returned by Verify when the report has problems; it
// classifies as exit 1.
type FailedError struct{ Report *Report }

func (e *FailedError) Error() string {
	all := e.Report.AllProblems()
	if len(all) == 1 {
		return all[0].String()
	}
	return fmt.Sprintf("%d checks failed; first: %s", len(all), all[0])
}

func (e *FailedError) Unwrap() error { return exitcode.ErrVerify }

// ErrorCode is SignatureInvalid when a signature failed, else VerifyFailed.
func (e *FailedError) ErrorCode() string {
	for _, s := range e.Report.Signatures {
		if s.Status == "failed" {
			return exitcode.CodeSignatureInvalid
		}
	}
	return exitcode.CodeVerifyFailed
}

// Verify reads a bundle from r. The report is returned whenever the archive
// could be read to its end; err is a *FailedError when checks failed, or the
// reason the archive was refused or unreadable.
func Verify(ctx context.Context, r io.Reader, opt Options) (*Report, error) {
	if opt.MaxDepth == 0 {
		opt.MaxDepth = DefaultMaxDepth
	}
	var root digest.SHA256
	if opt.ExpectRoot != "" {
		h, err := digest.Parse(opt.ExpectRoot)
		if err != nil {
			return nil, exitcode.Optionf("ExpectRoot", "%q is not sha256:<64 lowercase hex>", opt.ExpectRoot)
		}
		root = h
	}
	if opt.ExpectSHA256 != "" {
		if _, err := digest.ParseHex(opt.ExpectSHA256); err != nil {
			return nil, exitcode.Optionf("ExpectSHA256", "%q is not 64 lowercase hex digits", opt.ExpectSHA256)
		}
	}
	v := &verifier{opt: opt}
	rep, err := v.bundle(ctx, r, "", 0, true)
	if err != nil {
		return rep, err
	}
	if opt.ExpectRoot != "" && rep.Root != "" && rep.Root != root.String() {
		rep.add(layout.Checksums, "root", "Merkle root is %s, expected %s", rep.Root, root)
	}
	if opt.ExpectSHA256 != "" && rep.SHA256 != opt.ExpectSHA256 {
		rep.add("", "archive-sha256", "archive SHA-256 is %s, expected %s", rep.SHA256, opt.ExpectSHA256)
	}
	if opt.After != nil {
		ps, err := opt.After(rep)
		if err != nil {
			return rep, err
		}
		rep.Problems = append(rep.Problems, ps...)
	}
	if err := checkSignatures(rep, opt.Signatures); err != nil {
		return rep, err
	}
	rep.OK = len(rep.AllProblems()) == 0
	if !rep.OK {
		return rep, &FailedError{Report: rep}
	}
	return rep, nil
}

type verifier struct {
	opt Options
}

func isSignedDoc(name string) bool {
	for _, d := range layout.Signed {
		if name == d || name == d+layout.SigSuffix {
			return true
		}
	}
	return false
}

type progressReader struct {
	r  io.Reader
	fn func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.fn(int64(n))
	}
	return n, err
}

// bundle verifies one archive; top is true for the outermost one, whose
// format is checked too unless Options.ContentOnly.
func (v *verifier) bundle(ctx context.Context, r io.Reader, name string, depth int, top bool) (*Report, error) {
	rep := &Report{Path: name}
	format := top && !v.opt.ContentOnly
	whole := sha256.New()
	src := io.TeeReader(r, whole)
	if top && v.opt.Progress != nil {
		src = io.TeeReader(&progressReader{r: r, fn: v.opt.Progress}, whole)
	}
	tr, err := tarball.NewReader(ctxio.NewReader(ctx, src), v.opt.Limits)
	if err != nil {
		return nil, err
	}
	defer tr.Close()

	mtime := tr.GzipModTime.UTC()
	rep.ModTime = mtime.Format(time.RFC3339)
	if format && tr.GzipOS != 255 {
		rep.add("", "gzip-header", "OS byte is %d, must be 255", tr.GzipOS)
	}
	if format && (tr.GzipName != "" || tr.GzipComment != "") {
		rep.add("", "gzip-header", "FNAME or FCOMMENT present, a bundle has neither")
	}

	cmp := &comparer{}
	dirs := tarball.NewNameSet()
	var digests map[string]digest.SHA256
	if top {
		digests = make(map[string]digest.SHA256, 4)
	}
	lim := v.opt.Limits.WithDefaults()
	sumsLimit := max(checksums.MaxSize, checksums.SizeFor(lim.MaxEntries, lim.MaxNameBytes))
	var (
		last     string
		manifest []byte
		sums     *checksums.File
		sumsErr  error
		buf      = make([]byte, 256<<10)
	)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if format {
			if e.Name <= last {
				rep.add(e.Name, "order", "entry comes after %q; entries must be sorted byte-wise", last)
			}
			last = e.Name
			checkHeader(rep, e, mtime)
			for _, p := range safepath.Parents(e.Name) {
				if dirs.Add(p) {
					rep.add(e.Name, "directory-entry", "parent directory %q has no entry of its own before it", p)
				}
			}
		}
		if e.Dir {
			dirs.Add(e.Name)
			continue
		}
		var src io.Reader = tr
		var sink *sinkReader
		if top && v.opt.Extract != nil {
			w, err := v.opt.Extract(e.Name, e.Size)
			if err != nil {
				return nil, err
			}
			if w != nil {
				sink = &sinkReader{r: tr, w: w}
				src = sink
			}
		}
		h := sha256.New()
		var n int64
		switch {
		case e.Name == layout.Checksums:
			cr := &ctxio.CountReader{R: io.TeeReader(src, h)}
			sums, sumsErr = checksums.ParseLimit(cr, sumsLimit)
			var rest int64
			rest, err = io.CopyBuffer(h, src, buf) // what Parse left unread (only on error)
			n = cr.N + rest
		case e.Name == layout.Manifest && e.Size <= 1<<20:
			var b bytes.Buffer
			n, err = io.CopyBuffer(io.MultiWriter(h, &b), src, buf)
			manifest = b.Bytes()
			if top {
				rep.keep(e.Name, manifest)
			}
		case top && e.Name == layout.Provenance && v.opt.Signatures.attests():
			n, err = v.provenance(rep, src, h, e.Size, buf)
		case top && e.Size <= captureLimit(e.Name, v.opt.Signatures):
			var b bytes.Buffer
			n, err = io.CopyBuffer(io.MultiWriter(h, &b), src, buf)
			rep.keep(e.Name, b.Bytes())
		case isTgz(e.Name) && depth+1 <= v.opt.MaxDepth:
			n, err = v.inner(ctx, rep, src, h, e.Name, depth)
		default:
			n, err = io.CopyBuffer(h, src, buf)
		}
		if sink != nil {
			err = sink.close(err)
		}
		if err != nil {
			return nil, err
		}
		rep.Files++
		rep.Bytes += n
		d := digest.Of(h)
		if top && isSignedDoc(e.Name) {
			digests[e.Name] = d
		}
		if e.Name == layout.Checksums {
			if sums != nil {
				cmp.setSums(sums)
			}
			continue
		}
		cmp.file(e.Name, d)
	}
	rep.SHA256 = digest.Of(whole).Hex()
	rep.digests = digests

	var mismatch *checksums.RootMismatchError
	switch {
	case sums == nil && sumsErr == nil:
		rep.add(layout.Checksums, "checksums", "the bundle has no checksums.txt")
		return rep, nil
	case errors.As(sumsErr, &mismatch):
		rep.add(layout.Checksums, "root", "%v", mismatch)
		rep.Root = mismatch.Stated.String()
	case sumsErr != nil:
		return rep, fmt.Errorf("%s: %w", layout.Checksums, sumsErr)
	default:
		rep.Root = sums.Root.String()
	}
	rep.checksums = sums
	cmp.report(rep)
	if format {
		for _, req := range []string{layout.Readme, layout.Manifest, layout.Script} {
			if sums.Index(req) < 0 {
				rep.add(req, "layout", "every bundle must carry %s", req)
			}
		}
		if manifest != nil {
			checkManifest(rep, manifest)
			checkPayloadRoot(rep, sums, manifest)
		}
	}
	return rep, nil
}

func isTgz(name string) bool {
	return strings.HasSuffix(name, ".tgz") || strings.HasSuffix(name, ".tar.gz")
}

// inner verifies an entry that looks like a bundle while hashing it for the
// outer checksums. An entry that is not a gzip'd tar, or has no
// checksums.txt, is only hashed; one that is a bundle but fails adds a
// problem to the outer report.
func (v *verifier) inner(ctx context.Context, rep *Report, r io.Reader, h hash.Hash, name string, depth int) (int64, error) {
	cr := &ctxio.CountReader{R: io.TeeReader(r, h)}
	in, err := v.bundle(ctx, cr, name, depth+1, false)
	// Hash whatever the inner reader did not consume; a read error here is
	// the outer archive's own and refuses it.
	rest, cerr := io.Copy(h, r)
	if cerr != nil {
		return 0, cerr
	}
	switch {
	case ctx.Err() != nil:
		return 0, context.Cause(ctx)
	case err == nil && in.checksums == nil && len(in.Problems) > 0 && in.Problems[len(in.Problems)-1].Check == "checksums":
		rep.InnerSkipped = append(rep.InnerSkipped, name)
	case err == nil:
		in.OK = len(in.AllProblems()) == 0
		rep.Inner = append(rep.Inner, in)
	case isNotGzip(err):
		rep.InnerSkipped = append(rep.InnerSkipped, name)
	default:
		rep.add(name, "inner-bundle", "%v", oneLine(err))
	}
	return cr.N + rest, nil
}

func isNotGzip(err error) bool {
	var fe *tarball.FormatError
	return errors.As(err, &fe) && errors.Is(fe.Kind, tarball.ErrNotGzip)
}

// sinkReader copies what is read from r to w, the writer Options.Extract
// returned for the entry, so that w sees exactly the bytes that are hashed.
// A write error stops the reading and is kept, so that it is reported even
// where a reader of the entry (checksums.Parse, an inner bundle) would
// swallow it.
type sinkReader struct {
	r   io.Reader
	w   io.WriteCloser
	err error
}

func (s *sinkReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	if n > 0 {
		if _, werr := s.w.Write(p[:n]); werr != nil {
			s.err = werr
			return 0, werr
		}
	}
	return n, err
}

// close closes the writer once the entry has been read, and returns the
// first error of reading the entry (err), writing it, and closing.
func (s *sinkReader) close(err error) error {
	cerr := s.w.Close()
	switch {
	case s.err != nil:
		return s.err
	case err != nil:
		return err
	}
	return cerr
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

func checkHeader(rep *Report, e *tarball.Entry, mtime time.Time) {
	wantMode := int64(0o644)
	if e.Dir {
		wantMode = 0o755
	}
	if e.Mode != wantMode {
		rep.add(e.Name, "mode", "mode %o, must be %o", e.Mode, wantMode)
	}
	if e.UID != 0 || e.GID != 0 || e.Uname != "" || e.Gname != "" {
		rep.add(e.Name, "owner", "owner %d/%d (%q/%q), must be 0/0 with no names", e.UID, e.GID, e.Uname, e.Gname)
	}
	if !e.ModTime.Equal(mtime) {
		rep.add(e.Name, "mtime", "mtime %s differs from the pinned time %s in the gzip header", e.ModTime.UTC().Format(time.RFC3339Nano), mtime.Format(time.RFC3339))
	}
	if len(e.PAXKeys) > 0 {
		rep.add(e.Name, "pax", "PAX records %s leak build-machine metadata", strings.Join(e.PAXKeys, ","))
	}
}

func checkManifest(rep *Report, b []byte) {
	c, err := canonjson.Canonicalize(bytes.TrimSuffix(b, []byte("\n")))
	if err != nil {
		rep.add(layout.Manifest, "manifest", "not valid canonical JSON: %v", err)
		return
	}
	if !bytes.Equal(append(c, '\n'), b) {
		rep.add(layout.Manifest, "manifest", "not in canonical form (RFC 8785 bytes and one LF)")
	}
	var m struct {
		ExportID string `json:"exportId"`
		Profile  string `json:"profile"`
	}
	if err := jsonUnmarshal(b, &m); err == nil {
		rep.ExportID, rep.Profile = m.ExportID, m.Profile
	}
}

// Document returns the bytes of a small document of the outer bundle that
// verification kept (export.json up to 1 MiB, and signed documents), or
// nil.
func (r *Report) Document(name string) []byte { return r.docs[name] }

// LogCheck is the verdict on a transparency-log receipt (verify
// --receipt): the entry's index and the checkpoint it is proven against,
// and a newer checkpoint the auditor held, if any.
type LogCheck struct {
	Receipt   string `json:"receipt"`
	Origin    string `json:"origin,omitempty"`
	Index     uint64 `json:"index"`
	Size      uint64 `json:"size"`
	Root      string `json:"root,omitempty"`
	NewerSize uint64 `json:"newerSize,omitempty"`
	NewerRoot string `json:"newerRoot,omitempty"`
	Status    string `json:"status"` // verified, failed
	Detail    string `json:"detail,omitempty"`
}
