// Package portable writes the portable evidence export v1
// (docs/format.md#portable): export-portable-bundle-v1.tgz holding exactly README.md,
// checksums.txt, export.json, portable-bundle-v1.tgz and verify-export.sh.
//
// The input is a sealed bundle (its checksums.txt root verifies) and is
// copied bit for bit, never unpacked and repacked. The output is write-once:
// an identical re-run is a no-op, different bytes for an existing export are
// refused. A digest mismatch against --expect-sha256 keeps the artefact,
// marks the export FAILED in a status file beside it and refuses later runs
// until the operator acknowledges the failure.
package portable

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/bundle"
	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/manifest"
	"github.com/stella-ops/stella-export/internal/partial"
	"github.com/stella-ops/stella-export/internal/readme"
	"github.com/stella-ops/stella-export/internal/safefile"
	"github.com/stella-ops/stella-export/internal/tarball"
	"github.com/stella-ops/stella-export/internal/verify"
	"github.com/stella-ops/stella-export/internal/version"
)

// Layouts of the output directory.
const (
	LayoutFlat     = "flat"     // OUTDIR/export-portable-bundle-v1.tgz
	LayoutObjstore = "objstore" // OUTDIR/exports/{tenant}/{bundleId}/{exportId}/export-portable-bundle-v1.tgz
)

// Config describes one portable export.
type Config struct {
	Input              string // the sealed portable bundle
	BundleID           string
	ExportID           string
	Tenant             string
	SourceURI          string    // empty means /evidence/{bundleId}/portable
	CreatedAt          time.Time // zero means the pinned time
	RetentionDays      int       // expiresAtUtc is CreatedAt plus this many days; 0: no expiry
	ExpectSHA256       string    // bare hex of the input; empty means not checked
	OutDir             string
	Layout             string // LayoutFlat (default) or LayoutObjstore
	AcknowledgeFailure bool
	Limits             tarball.Limits
	bundle.Options
}

// Result describes the export written.
type Result struct {
	Path         string `json:"path"`
	Root         string `json:"root"`   // the export's own root
	SHA256       string `json:"sha256"` // of the export archive
	InputRoot    string `json:"rootHash"`
	InputSHA256  string `json:"inputSha256"`
	Unchanged    bool   `json:"unchanged"` // an identical export already existed
	Acknowledged string `json:"acknowledged,omitempty"`
}

// SealedRequiredError says the input is not a sealed bundle (the export
// centre's 409 SealedRequired).
type SealedRequiredError struct {
	Input  string
	Reason string
}

func (e *SealedRequiredError) Error() string {
	return fmt.Sprintf("%s: SealedRequired: the input is not a sealed bundle: %s", e.Input, e.Reason)
}

func (e *SealedRequiredError) Unwrap() error { return exitcode.ErrConflict }

func (e *SealedRequiredError) ErrorCode() string { return exitcode.CodeSealedRequired }

// FailedError is the digest mismatch that marked the export FAILED.
type FailedError struct {
	Marker           string
	Expected, Actual string
}

func (e *FailedError) Error() string {
	return fmt.Sprintf("input SHA-256 is %s, expected %s: export marked FAILED in %s (artefact kept)", e.Actual, e.Expected, e.Marker)
}

func (e *FailedError) Unwrap() error { return exitcode.ErrVerify }

func (e *FailedError) ErrorCode() string { return exitcode.CodeExportFailed }

// MarkedFailedError refuses a run for an export that is marked FAILED.
type MarkedFailedError struct{ Marker string }

func (e *MarkedFailedError) Error() string {
	return fmt.Sprintf("export is marked FAILED (%s)", e.Marker)
}

func (e *MarkedFailedError) Unwrap() error { return exitcode.ErrConflict }

func (e *MarkedFailedError) ErrorCode() string { return exitcode.CodeExportFailed }

// Status is the content of the .failed marker (canonical JSON).
type Status struct {
	Status         string `json:"status"`
	Reason         string `json:"reason"`
	ExportID       string `json:"exportId"`
	BundleID       string `json:"bundleId"`
	Tenant         string `json:"tenant"`
	Artefact       string `json:"artefact"`
	ExpectedSHA256 string `json:"expectedSha256"`
	ActualSHA256   string `json:"actualSha256"`
}

// OutputPath returns where the export of cfg is written.
func OutputPath(cfg Config) string {
	if cfg.Layout == LayoutObjstore {
		return filepath.Join(cfg.OutDir, "exports", cfg.Tenant, cfg.BundleID, cfg.ExportID, layout.PortableOutput)
	}
	return filepath.Join(cfg.OutDir, layout.PortableOutput)
}

// Export writes the portable export of cfg.
func Export(ctx context.Context, cfg Config) (*Result, error) {
	if err := check(&cfg); err != nil {
		return nil, err
	}
	out := OutputPath(cfg)
	marker := out + ".failed"
	res := &Result{Path: out}
	if _, err := os.Stat(marker); err == nil {
		if !cfg.AcknowledgeFailure {
			return nil, &MarkedFailedError{Marker: marker}
		}
		ack := marker + ".acknowledged"
		if err := os.Rename(marker, ack); err != nil {
			return nil, fmt.Errorf("acknowledge failure: %w", err)
		}
		if err := os.Remove(out); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("remove failed artefact: %w", err)
		}
		res.Acknowledged = ack
	}

	// 1. The input must be sealed; this pass also gives its digest and root.
	in, err := safefile.Open(cfg.Input)
	if err != nil {
		return nil, fmt.Errorf("open portable bundle: %w", err)
	}
	st, err := in.Stat()
	if err != nil {
		in.Close()
		return nil, err
	}
	rep, err := verify.Verify(ctx, in, verify.Options{ContentOnly: true, Limits: cfg.Limits, MaxDepth: 1})
	in.Close()
	var failed *verify.FailedError
	switch {
	case errors.As(err, &failed):
		return nil, &SealedRequiredError{Input: cfg.Input, Reason: failed.Error()}
	case err != nil:
		return nil, fmt.Errorf("%s: %w", cfg.Input, err)
	}
	res.InputRoot, res.InputSHA256 = rep.Root, rep.SHA256

	// 2. Build the export into a temporary file beside the target.
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, fmt.Errorf("create output directory: %w", err)
	}
	existing, exists := digestOf(out)
	f, err := atomicfile.Create(out, true)
	if err != nil {
		return nil, err
	}
	defer f.Abort()
	defer partial.Track(ctx, f.TempName())()
	h := sha256.New()
	src := bundle.Source{Name: layout.PortableInner, Size: st.Size(), Origin: cfg.Input,
		Open: func() (io.ReadCloser, error) { return safefile.Open(cfg.Input) }}
	mt := cfg.ModTime
	if mt.IsZero() {
		mt = tarball.DefaultModTime
	}
	created := cfg.CreatedAt
	if created.IsZero() {
		created = mt
	}
	render := func(s bundle.Summary) (bundle.Docs, error) {
		var got string
		for e, err := range s.Entries() {
			if err != nil {
				return bundle.Docs{}, err
			}
			got = e.Digest.Hex()
		}
		if got != rep.SHA256 {
			return bundle.Docs{}, fmt.Errorf("%s: %w: SHA-256 %s when checked, %s when packaged", cfg.Input, bundle.ErrChanged, rep.SHA256, got)
		}
		m := manifest.Portable{
			Format: manifest.Format, Profile: manifest.ProfilePortable,
			BundleID: cfg.BundleID, ExportID: cfg.ExportID, Tenant: cfg.Tenant,
			CreatedAtUTC: manifest.Timestamp(created), RootHash: rep.Root, SourceURI: cfg.SourceURI,
			PortableVersion: manifest.PortableVersion, PortableSizeBytes: s.Bytes,
			ExporterVersion: version.String(),
		}
		if cfg.RetentionDays > 0 {
			m.ExpiresAtUTC = manifest.Timestamp(created.AddDate(0, 0, cfg.RetentionDays))
		}
		mb, err := manifest.Bytes(m)
		if err != nil {
			return bundle.Docs{}, err
		}
		rb, err := readme.RenderPortable(readme.Portable{
			ExportID: m.ExportID, BundleID: m.BundleID, Tenant: m.Tenant, ExporterVersion: m.ExporterVersion,
			PortableVersion: m.PortableVersion, CreatedAtUTC: m.CreatedAtUTC, RootHash: m.RootHash,
			SourceURI: m.SourceURI, PortableSizeBytes: m.PortableSizeBytes,
		})
		return bundle.Docs{Manifest: mb, Readme: rb}, err
	}
	br, err := bundle.Write(ctx, io.MultiWriter(f, h), bundle.List{src}, render, cfg.Options)
	if err != nil {
		return nil, err
	}
	res.Root = br.Root.String()
	res.SHA256 = digest.Of(h).Hex()

	// 3. Write once: identical bytes are a no-op, different bytes a conflict.
	switch {
	case exists && existing == res.SHA256:
		res.Unchanged = true
		f.Abort()
	case exists:
		return nil, exitcode.Conflictf("%s already exists with different content (SHA-256 %s, this run gives %s)", out, existing, res.SHA256)
	default:
		if err := commitNew(f); err != nil {
			return nil, err
		}
	}

	// 4. A digest the operator pinned must match, else the export is FAILED.
	if cfg.ExpectSHA256 != "" && cfg.ExpectSHA256 != res.InputSHA256 {
		s := Status{Status: "FAILED", Reason: "portable bundle SHA-256 mismatch", ExportID: cfg.ExportID,
			BundleID: cfg.BundleID, Tenant: cfg.Tenant, Artefact: filepath.Base(out),
			ExpectedSHA256: cfg.ExpectSHA256, ActualSHA256: res.InputSHA256}
		b, err := canonjson.MarshalLine(s)
		if err != nil {
			return nil, err
		}
		mf, err := atomicfile.Create(marker, true)
		if err != nil {
			return nil, err
		}
		if _, err := mf.Write(b); err != nil {
			mf.Abort()
			return nil, err
		}
		if err := mf.Commit(); err != nil {
			return nil, err
		}
		return res, &FailedError{Marker: marker, Expected: cfg.ExpectSHA256, Actual: res.InputSHA256}
	}
	return res, nil
}

// commitNew moves the finished file into place without replacing anything
// that appeared meanwhile.
func commitNew(f *atomicfile.File) error {
	g, err := atomicfile.Create(f.Name(), false)
	if err != nil {
		return err
	}
	g.Abort()
	return f.Commit()
}

// check validates cfg and fills in its defaults. Errors are
// *exitcode.OptionError naming the Config field (exit 3).
func check(cfg *Config) error {
	if cfg.Input == "" {
		return exitcode.Optionf("Input", "the sealed portable bundle is required")
	}
	for _, id := range []struct{ field, v string }{{"BundleID", cfg.BundleID}, {"ExportID", cfg.ExportID}, {"Tenant", cfg.Tenant}} {
		if id.v == "" {
			return exitcode.Optionf(id.field, "required for a portable evidence export")
		}
		if err := safefile.CheckToken(id.field, id.v); err != nil {
			return err
		}
		if err := manifest.CheckID(id.field, id.v); err != nil {
			return err
		}
	}
	if err := safefile.CheckToken("SourceURI", cfg.SourceURI); err != nil {
		return err
	}
	if cfg.SourceURI == "" {
		cfg.SourceURI = "/evidence/" + cfg.BundleID + "/portable"
	}
	if cfg.ExpectSHA256 != "" {
		if err := safefile.CheckToken("ExpectSHA256", cfg.ExpectSHA256); err != nil {
			return err
		}
		if _, err := digest.ParseHex(cfg.ExpectSHA256); err != nil {
			return exitcode.Optionf("ExpectSHA256", "%q is not 64 lowercase hex digits", cfg.ExpectSHA256)
		}
	}
	if cfg.RetentionDays < 0 || cfg.RetentionDays > 36500 {
		return exitcode.Optionf("RetentionDays", "%d is not a number of days from 1 to 36500", cfg.RetentionDays)
	}
	switch cfg.Layout {
	case "", LayoutFlat:
		cfg.Layout = LayoutFlat
	case LayoutObjstore:
	default:
		return exitcode.Optionf("Layout", "%q is not one of flat, objstore", cfg.Layout)
	}
	if cfg.OutDir == "" {
		return exitcode.Optionf("OutDir", "the output directory is required")
	}
	return nil
}

func digestOf(path string) (string, bool) {
	f, err := safefile.OpenNoFollow(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", false
	}
	return digest.Of(h).Hex(), true
}
