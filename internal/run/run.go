// Package run executes a plan: it runs the profile's adapters into a
// staging directory next to the output, writes provenance.json and
// export.json, optionally packages the result as a bundle, and only
// then renames everything into place. On error or cancellation the staging
// directory and any partial bundle are removed.
package run

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/bundle"
	"github.com/stella-ops/stella-export/internal/checksums"
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/ctxio"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/encrypt"
	"github.com/stella-ops/stella-export/internal/events"
	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/manifest"
	"github.com/stella-ops/stella-export/internal/merkle"
	"github.com/stella-ops/stella-export/internal/partial"
	"github.com/stella-ops/stella-export/internal/plan"
	"github.com/stella-ops/stella-export/internal/readme"
	"github.com/stella-ops/stella-export/internal/safefile"
	"github.com/stella-ops/stella-export/internal/safepath"
	"github.com/stella-ops/stella-export/internal/tarball"
)

// Options configure Execute.
type Options struct {
	OutDir  string // the export directory; must not exist unless Force
	Package string // optional bundle path
	Force   bool
	// CreatedAt is export.json's createdAtUtc; zero means the plan's
	// (plan.Plan.CreatedAt).
	CreatedAt time.Time
	// ModTime is the bundle's pinned mtime; zero means the default.
	ModTime  time.Time
	Events   *events.Writer
	Progress bundle.Progress
	// SmallDoc is the size up to which a document is read into memory
	// (larger ones stream); zero means 8 MiB.
	SmallDoc int64
	// Signer, if set, signs export.json and provenance.json inside the
	// bundle (with Package).
	Signer bundle.Signer
	// Protect lists the inputs (evidence source, contract, plan, base
	// bundle) that OutDir must not hold and Package must not name: --force
	// never deletes them.
	Protect []Protected
	// MemoryBudget is the run's memory budget, in bytes (--memory-budget,
	// which the plan's document stream shares): the record of staged files
	// and the mirror indexes may each take an eighth of it before they
	// spill to a temporary directory beside OutDir; zero means
	// adapters.DefaultBudget each.
	MemoryBudget int64
	// Encryption, when set, encrypts the files in its scope as they are
	// staged (internal/encrypt).
	Encryption *encrypt.Config
	// PlanDigest is the plan's digest (PlanDigest of the same plan) when
	// the caller has computed it: Execute then does not take that pass
	// over the inputs a second time. Empty: Execute computes it.
	PlanDigest string
}

// Result describes a finished run.
type Result struct {
	OutDir    string
	Package   string
	Manifest  *manifest.Run
	BundleSHA string // bare hex of the bundle, when packaged
	Root      digest.SHA256
}

// ChangedError: an input differs from the plan (exit 5).
type ChangedError struct {
	Path   string
	Detail string
}

func (e *ChangedError) Error() string {
	return fmt.Sprintf("%s: input changed since planning: %s; plan again", e.Path, e.Detail)
}

func (e *ChangedError) Unwrap() error { return exitcode.ErrConflict }

func (e *ChangedError) ErrorCode() string { return exitcode.CodeInputChanged }

// Execute runs p. source is the evidence directory, base the verified base
// mirror (mirror:delta only).
func Execute(ctx context.Context, p *plan.Plan, source string, base *adapters.BaseMirror, opt Options) (res *Result, err error) {
	ev := opt.Events
	ads, err := adapters.ForProfile(p.Contract.Profile)
	if err != nil {
		return nil, err
	}
	if err := checkTarget(opt.OutDir, opt.Force, opt.Protect); err != nil {
		return nil, err
	}
	if opt.Package != "" {
		if err := CheckPackage(opt.Package, opt.OutDir, opt.Protect); err != nil {
			return nil, err
		}
		if _, err := os.Lstat(opt.Package); err == nil && !opt.Force {
			return nil, &atomicfile.ExistsError{Path: opt.Package}
		}
		if err := safefile.Replaceable(opt.Package); opt.Force && err != nil {
			return nil, err
		}
	}
	stageDir, err := makeStage(opt.OutDir, partial.DirPattern("stage"))
	if err != nil {
		return nil, err
	}
	// A forced exit (internal/partial) removes the stage if run is stuck.
	defer partial.Track(ctx, stageDir)()
	var pkg *atomicfile.File
	defer func() {
		if err != nil {
			failRun(ctx, ev, p.Contract.ExportID, stageDir, pkg, err)
		}
	}()
	ev.State("running", map[string]any{"exportId": p.Contract.ExportID, "profile": p.Contract.Profile, "documents": p.Inputs.Len()})
	src, err := safefile.OpenDir(source)
	if err != nil {
		return nil, fmt.Errorf("read evidence: %w", err)
	}
	defer src.Close()
	stage := adapters.NewStage(ctx, stageDir, opt.MemoryBudget/8)
	defer stage.Close()
	seal := newSeal(ctx, stage, opt.Encryption)
	defer seal.close()
	small := opt.SmallDoc
	if small <= 0 {
		small = 8 << 20
	}
	mt := opt.ModTime
	if mt.IsZero() {
		mt = tarball.DefaultModTime
	}
	created := opt.CreatedAt
	if created.IsZero() {
		if created, err = p.Created(); err != nil {
			return nil, err
		}
	}
	in := &adapters.Input{Docs: p.Inputs, Snapshot: p.Snapshot(), Base: base, Counts: p.Counts(),
		Compression: contract.Compression{Codec: p.Contract.Compression.Codec, Level: p.Contract.Compression.Level},
		TrivySchema: p.Contract.TrivySchema, CreatedAt: created, RetentionDays: p.Contract.RetentionDays}
	job := &adapters.Job{Input: in, Source: source, Stage: stage, Events: ev,
		Open: func(d *evidence.Doc) (*adapters.Doc, error) { return open(ctx, src, p.Inputs, d, small) }}
	// export.json's plan digest takes a pass over the inputs of its own,
	// unless the caller made it: it runs beside the adapters, and Execute
	// never returns before it ends (the inputs may be a spill file that
	// Plan.Close removes).
	pd := knownPlanDigest(opt.PlanDigest)
	if pd == nil {
		pd = startPlanDigest(p)
	}
	defer pd.wait()
	for _, a := range ads {
		if err := a.Run(ctx, job); err != nil {
			err = exitcode.Cause(ctx, err)
			ev.Emit("adapter.error", map[string]any{"adapter": a.Name(), "reason": reasonCode(err), "code": exitcode.Name(err), "message": oneLine(err)})
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	ev.State("manifest", nil)
	if err := seal.finish(); err != nil {
		return nil, err
	}
	if err := writeProvenance(stage, p, ads, seal.prov, opt.Signer); err != nil {
		return nil, err
	}
	files, err := stage.Files()
	if err != nil {
		return nil, err
	}
	planDigest, err := pd.wait()
	if err != nil {
		return nil, err
	}
	m, err := runManifest(p, ads, files, created, planDigest)
	if err != nil {
		return nil, err
	}
	m.TrivyDB, m.JavaDB, m.Encryption = job.TrivyDB, job.JavaDB, seal.manifest
	res = &Result{OutDir: opt.OutDir, Package: opt.Package, Manifest: m}
	err = finishRun(ctx, res, stageDir, files, mt, opt, &pkg, func() ([]byte, error) { return runReadme(m, mt, opt.Signer) })
	if err != nil {
		return nil, err
	}
	ev.State("completed", map[string]any{"exportId": m.ExportID, "documents": p.Inputs.Len(), "files": m.FileCount,
		"payloadRoot": m.PayloadRoot, "output": opt.OutDir})
	return res, nil
}

// commitRun puts a finished run in place, unless ctx was cancelled: the
// staging directory becomes opt.OutDir, the package's temporary file (pkg,
// nil without --package) its final name.
// finishRun ends a run whose stage holds every file but export.json: it
// writes res.Manifest there as export.json, with opt.Package the bundle of
// the stage (its README from readme) into res.Root and res.BundleSHA, and
// puts both in place (commitRun). *pkg is the package's temporary file as
// soon as it exists, for the caller's clean-up when this fails.
func finishRun(ctx context.Context, res *Result, stageDir string, files *adapters.Files, mt time.Time, opt Options,
	pkg **atomicfile.File, readme func() ([]byte, error)) error {
	m := res.Manifest
	mb, err := manifest.Bytes(m)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(stageDir, layout.Manifest), mb, 0o644); err != nil {
		return err
	}
	if opt.Package != "" {
		opt.Events.State("packaging", map[string]any{"output": opt.Package})
		if *pkg, err = atomicfile.Create(opt.Package, opt.Force); err != nil {
			return err
		}
		defer partial.Track(ctx, (*pkg).TempName())()
		rd, err := readme()
		if err != nil {
			return err
		}
		h := sha256.New()
		r, err := packageStage(ctx, io.MultiWriter(*pkg, h), filepath.Dir((*pkg).TempName()), stageDir, files, m, mb, rd, mt, opt)
		if err != nil {
			return err
		}
		res.Root, res.BundleSHA = r.Root, digest.Of(h).Hex()
	}
	return commitRun(ctx, stageDir, *pkg, opt)
}

func commitRun(ctx context.Context, stageDir string, pkg *atomicfile.File, opt Options) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	if err := replaceDir(stageDir, opt.OutDir, opt.Force, opt.Protect); err != nil {
		return err
	}
	if pkg != nil {
		return pkg.Commit()
	}
	return nil
}

// failRun undoes a run that failed: it removes the staging directory and
// the package's temporary file (pkg may be nil) and records the failed or
// (when ctx was cancelled) aborted state with the error's reason and code.
func failRun(ctx context.Context, ev *events.Writer, exportID, stageDir string, pkg *atomicfile.File, err error) {
	os.RemoveAll(stageDir)
	if pkg != nil {
		pkg.Abort()
	}
	state := "failed"
	if ctx.Err() != nil {
		state = "aborted"
	}
	ev.State(state, map[string]any{"exportId": exportID, "reason": reasonCode(err), "code": exitcode.Name(err), "message": oneLine(err)})
}

// makeStage creates the staging directory of the export directory dir,
// beside it (so that the final rename stays on one file system), named
// prefix and random hex. Unlike os.MkdirTemp's 0700 it is created 0755, the
// umask applying as it does to every directory and file inside: the
// export directory has the permissions of its contents.
func makeStage(dir, prefix string) (string, error) {
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("create output directory: %w", err)
	}
	for range 100 {
		var b [8]byte
		rand.Read(b[:])
		p := filepath.Join(parent, prefix+hex.EncodeToString(b[:]))
		err := os.Mkdir(p, 0o755)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("create staging directory: %w", err)
		}
	}
	return "", fmt.Errorf("create staging directory in %s: no free name", parent)
}

// replaceDir renames stage to dir. With force an existing dir, checked
// again to be an earlier export holding none of protect, is moved aside
// first and removed after the rename.
func replaceDir(stage, dir string, force bool, protect []Protected) error {
	if err := checkTarget(dir, force, protect); err != nil {
		return err
	}
	var old string
	if _, err := os.Lstat(dir); err == nil {
		old = stage + ".old"
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("replace %s: %w", dir, err)
		}
	}
	if err := os.Rename(stage, dir); err != nil {
		if old != "" {
			os.Rename(old, dir)
		}
		return fmt.Errorf("move staging directory into place: %w", err)
	}
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}

// open opens a planned document below the source, without following any
// symbolic link and refusing anything but a regular file without blocking
// on it, and checks it still is what the plan says. When the plan was made
// in this process and kept the document's canonical form (plan.Options.
// KeepCanonical), that is what it returns: the document was read, hashed
// and canonicalised once, when planned.
func open(ctx context.Context, src *safefile.Dir, docs evidence.Docs, d *evidence.Doc, small int64) (*adapters.Doc, error) {
	if kept, ok := docs.(interface {
		Canonical(*evidence.Doc) ([]byte, bool, error)
	}); ok {
		b, ok, err := kept.Canonical(d)
		if err != nil {
			return nil, fmt.Errorf("read evidence %s: %w", d.Path, err)
		}
		if ok {
			return &adapters.Doc{ReaderAt: bytes.NewReader(b), Size: int64(len(b)), Bytes: b, Canonical: true,
				Close: func() error { return nil }}, nil
		}
	}
	f, err := src.Open(d.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &ChangedError{Path: d.Path, Detail: "the file no longer exists"}
		}
		return nil, fmt.Errorf("read evidence: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.Size() != d.Size {
		f.Close()
		return nil, &ChangedError{Path: d.Path, Detail: fmt.Sprintf("%d bytes, the plan says %d", st.Size(), d.Size)}
	}
	h := sha256.New()
	doc := &adapters.Doc{ReaderAt: f, Size: d.Size, Close: f.Close}
	if d.Size <= small {
		b := make([]byte, d.Size)
		if _, err := io.ReadFull(f, b); err != nil {
			f.Close()
			return nil, fmt.Errorf("read evidence %s: %w", d.Path, err)
		}
		h.Write(b)
		doc.Bytes = b
	} else if _, err := io.Copy(h, ctxio.NewReader(ctx, io.NewSectionReader(f, 0, d.Size))); err != nil {
		f.Close()
		return nil, exitcode.Cause(ctx, fmt.Errorf("read evidence %s: %w", d.Path, err))
	}
	if got := digest.Of(h).String(); got != d.SHA256 {
		f.Close()
		return nil, &ChangedError{Path: d.Path, Detail: fmt.Sprintf("SHA-256 is %s, the plan says %s", got, d.SHA256)}
	}
	return doc, nil
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

// reasonCode names an error class for adapter.error and run.state events.
func reasonCode(err error) string {
	var ce *ChangedError
	switch {
	case errors.As(err, &ce):
		return "input_changed"
	case errors.Is(err, context.Canceled), errors.Is(err, exitcode.ErrInterrupted), errors.Is(err, exitcode.ErrTerminated):
		return "aborted"
	case errors.Is(err, exitcode.ErrInvalid):
		return "invalid_input"
	case errors.Is(err, exitcode.ErrConflict):
		return "conflict"
	}
	return "io_error"
}

// payloadRoot is the RFC 6962 root of the checksums lines of the payload
// files (every staged file: export.json is written after), computed as
// they stream by, with checksums.Build's checks.
func payloadRoot(d digest.SHA256, path string, b *merkle.Builder, prev *string) error {
	if err := safepath.Check(path, false); err != nil {
		return err
	}
	if path == layout.Checksums {
		return exitcode.Invalidf("%s cannot list itself", layout.Checksums)
	}
	if b.Len() > 0 && *prev >= path {
		return fmt.Errorf("staged files out of order or duplicated at %q", path)
	}
	*prev = path
	b.Add([]byte(checksums.Entry{Path: path, Digest: d}.Line()))
	return nil
}

func runReadme(m *manifest.Run, mt time.Time, signer bundle.Signer) ([]byte, error) {
	r := readme.Run{ExportID: m.ExportID, Tenant: m.Tenant, Profile: m.Profile, ExporterVersion: m.ExporterVersion,
		ModTime: manifest.Timestamp(mt), FileCount: m.FileCount, PayloadBytes: m.PayloadBytes}
	if signer != nil {
		r.Signing = readme.Signing{SignedBy: signer.Fingerprint(), SignedProv: true}
	}
	r.Encryption = readmeEncryption(m.Encryption)
	for _, t := range evidence.Types {
		n, ok := m.Counts[string(t)]
		if !ok {
			continue
		}
		r.Documents += n
		r.Counts = append(r.Counts, fmt.Sprintf("%d %s", n, plural(string(t), n)))
	}
	switch m.Profile {
	case contract.ProfileJSONRaw:
		r.Raw = true
	case contract.ProfileJSONPolicy:
		r.Raw, r.Policy = true, true
	case contract.ProfileMirrorFull:
		r.Mirror = true
	case contract.ProfileMirrorDelta:
		r.Mirror, r.Delta = true, true
	case contract.ProfileTrivyDB:
		r.TrivyDB = true
	case contract.ProfileTrivyJavaDB:
		r.JavaDB = true
	}
	return readme.RenderRun(r)
}

func plural(s string, n int) string {
	if n == 1 {
		return s
	}
	switch s {
	case "advisory":
		return "advisories"
	case "vex":
		return "VEX documents"
	case "sbom":
		return "SBOMs"
	case "java-index":
		return "java-index files"
	}
	return s + "s"
}
