package run

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"time"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/bundle"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/manifest"
	"github.com/stella-ops/stella-export/internal/safefile"
	"github.com/stella-ops/stella-export/internal/tarball"
)

// MaxManifest bounds the export.json that PackageDir reads.
const MaxManifest = 1 << 30

// IsExportDir reports whether dir is an export directory as run writes it:
// it holds export.json (a regular file, not followed if a link) of run's
// format with a payloadRoot. A directory with any other file of that name
// is not one (package refuses the name).
func IsExportDir(dir string) bool {
	fi, err := os.Lstat(filepath.Join(dir, layout.Manifest))
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	b, err := safefile.ReadAll(filepath.Join(dir, layout.Manifest), MaxManifest)
	if err != nil {
		return false
	}
	var m struct {
		Format      string `json:"format"`
		PayloadRoot string `json:"payloadRoot"`
	}
	return json.Unmarshal(b, &m) == nil && m.Format == manifest.Format && m.PayloadRoot != ""
}

// PackageOptions configure PackageDir.
type PackageOptions struct {
	ModTime  time.Time // the bundle's pinned mtime; zero means the default
	Level    int       // gzip level; zero means the default
	Progress bundle.Progress
	Signer   bundle.Signer
	TempDir  string
	// Exclude lists paths below dir that are not part of the export (the
	// output's temporary file when it is written inside dir).
	Exclude []string
}

// PackageDir writes to w the bundle of the export directory dir, as run
// wrote it (or keys rewrap left it): its files, export.json as it is, and
// the README run writes, so that with the same options the bytes are those
// run --package made. The files must still be what export.json records:
// their payload root must be its payloadRoot, otherwise nothing is trusted
// and the bundle fails (exit 1, a failed verification).
func PackageDir(ctx context.Context, w io.Writer, dir string, opt PackageOptions) (*bundle.Result, *manifest.Run, error) {
	mpath := filepath.Join(dir, layout.Manifest)
	mb, err := safefile.ReadAll(mpath, MaxManifest)
	if err != nil {
		return nil, nil, fmt.Errorf("read export directory: %w", err)
	}
	var m manifest.Run
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, nil, exitcode.Invalidf("%s: not an export.json of stella-export: %v", mpath, err)
	}
	if m.Format != manifest.Format || m.PayloadRoot == "" {
		return nil, nil, exitcode.Invalidf("%s: format %q without a payloadRoot: not an export.json that run wrote", mpath, m.Format)
	}
	srcs, err := bundle.DirSources(dir, false, append([]string{mpath}, opt.Exclude...)...)
	if err != nil {
		return nil, nil, err
	}
	mt := opt.ModTime
	if mt.IsZero() {
		mt = tarball.DefaultModTime
	}
	rd, err := runReadme(&m, mt, opt.Signer)
	if err != nil {
		return nil, nil, err
	}
	// No stage recorded these files: each is hashed before it is written.
	r, err := writeBundle(ctx, w, srcs, nil, &m, mb, rd, mt, opt.Level, opt.Progress, opt.Signer, opt.TempDir, func(got string) error {
		return &NotRecordedError{Dir: dir, Root: got, Recorded: m.PayloadRoot}
	})
	if err != nil {
		return nil, nil, err
	}
	return r, &m, nil
}

// NotRecordedError: an export directory's files are not the ones its
// export.json records (exit 1).
type NotRecordedError struct {
	Dir, Root, Recorded string
}

func (e *NotRecordedError) Error() string {
	return fmt.Sprintf("%s: the files' payload root is %s, export.json records %s: a file was changed, added or removed after run (or a keys rewrap stopped half-way)", e.Dir, e.Root, e.Recorded)
}

func (e *NotRecordedError) Unwrap() error { return exitcode.ErrVerify }

// writeBundle writes the bundle of a finished export: its payload srcs,
// export.json mb (whose parsed form is m) and the README rd. known, if not
// nil, gives the digests of the files that need not be hashed before they
// are written (bundle.Options.Known). A payload root other than m's is
// mismatch's error.
func writeBundle(ctx context.Context, w io.Writer, srcs bundle.Sources, known iter.Seq2[bundle.KnownFile, error], m *manifest.Run, mb, rd []byte,
	mt time.Time, level int, progress bundle.Progress, signer bundle.Signer, tempDir string, mismatch func(root string) error) (*bundle.Result, error) {
	return bundle.Write(ctx, w, srcs, func(s bundle.Summary) (bundle.Docs, error) {
		if s.Root.String() != m.PayloadRoot {
			return bundle.Docs{}, mismatch(s.Root.String())
		}
		return bundle.Docs{Manifest: mb, Readme: rd}, nil
	}, bundle.Options{ModTime: mt, Level: level, Progress: progress, Signer: signer, TempDir: tempDir, Known: known})
}

// packageStage writes to w the bundle of the finished staging directory
// stageDir of a run: its files (export.json, mb, parsed as m, excepted)
// with export.json and the README rd. files is what the stage recorded:
// each file's digest, taken as it was written, is given to the bundle as
// known, so that a recorded file is read once, by the writing pass, which
// hashes it again and refuses it (exit 5) if its bytes are not the
// recorded digest; a file the stage did not record is hashed first. The
// checksums lines wait in tempDir.
func packageStage(ctx context.Context, w io.Writer, tempDir, stageDir string, files *adapters.Files, m *manifest.Run, mb, rd []byte,
	mt time.Time, opt Options) (*bundle.Result, error) {
	srcs, err := bundle.DirSources(stageDir, false, filepath.Join(stageDir, layout.Manifest))
	if err != nil {
		return nil, err
	}
	return writeBundle(ctx, w, srcs, recorded(files), m, mb, rd, mt, 0, opt.Progress, opt.Signer, tempDir,
		func(root string) error {
			return fmt.Errorf("internal error: payload root %s, export.json says %s", root, m.PayloadRoot)
		})
}

// recorded yields the stage's records of its files as known digests, in
// their byte-wise path order.
func recorded(files *adapters.Files) iter.Seq2[bundle.KnownFile, error] {
	return func(yield func(bundle.KnownFile, error) bool) {
		for f, err := range files.All() {
			var d digest.SHA256
			if err == nil {
				d, err = digest.Parse(f.SHA256)
			}
			if !yield(bundle.KnownFile{Name: f.Path, Size: f.Size, Digest: d}, err) || err != nil {
				return
			}
		}
	}
}
