package run

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/bundle"
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/dataset/export"
	"github.com/stella-ops/stella-export/internal/dataset/redact"
	"github.com/stella-ops/stella-export/internal/dataset/validate"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/manifest"
	"github.com/stella-ops/stella-export/internal/partial"
	"github.com/stella-ops/stella-export/internal/provenance"
	"github.com/stella-ops/stella-export/internal/readme"
	"github.com/stella-ops/stella-export/internal/safefile"
	"github.com/stella-ops/stella-export/internal/tarball"
	"github.com/stella-ops/stella-export/internal/version"
)

// DatasetOptions are what a DatasetExport needs besides Options.
type DatasetOptions struct {
	// Hasher hashes identifiers (redact.NeedsHasher); nil when nothing is
	// hashed.
	Hasher *redact.Hasher
	// Report, when set, receives the validation summary (stderr).
	Report io.Writer
}

// DatasetResult describes a finished dataset run.
type DatasetResult struct {
	Result
	Dataset *export.Result
}

// DatasetProfile is export.json's profile of a DatasetExport: "dataset:"
// and the format.
func DatasetProfile(c *contract.Contract) string { return "dataset:" + c.Dataset.Format }

// ExecuteDataset runs a DatasetExport contract into opt.OutDir (and
// opt.Package): the dataset files (internal/dataset/export), then
// provenance.json and export.json as for every run, the bundle, and the
// rename into place. Guardrail errors leave OutDir holding only
// validation-report.json, and return *export.BlockedError (exit 3).
func ExecuteDataset(ctx context.Context, c *contract.Contract, opt Options, dopt DatasetOptions) (res *DatasetResult, err error) {
	ev := opt.Events
	d := c.Dataset
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
	s, err := export.LoadSchema(c)
	if err != nil {
		return nil, err
	}
	src, err := export.OpenSource(c, s)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	stageDir, err := makeStage(opt.OutDir, partial.DirPattern("stage"))
	if err != nil {
		return nil, err
	}
	defer partial.Track(ctx, stageDir)()
	var pkg *atomicfile.File
	defer func() {
		if err != nil {
			failRun(ctx, ev, c.ExportID, stageDir, pkg, err)
		}
	}()
	ev.State("running", map[string]any{"exportId": c.ExportID, "profile": DatasetProfile(c)})
	stage := adapters.NewStage(ctx, stageDir, opt.MemoryBudget/8)
	defer stage.Close()
	seal := newSeal(ctx, stage, opt.Encryption)
	defer seal.close()
	mt := opt.ModTime
	if mt.IsZero() {
		mt = tarball.DefaultModTime
	}
	created := opt.CreatedAt
	if created.IsZero() {
		created = mt
	}
	xopt := export.Options{Hasher: dopt.Hasher, ExportedAt: created}
	if c.Encryption != nil {
		xopt.Encrypted, xopt.KeyID = true, c.Encryption.Key
	}
	if opt.Progress != nil {
		xopt.Progress = func(int64) {}
	}
	xr, err := export.Export(ctx, c, s, src, stage, xopt)
	if err != nil {
		return nil, err
	}
	if dopt.Report != nil {
		xr.Report.Summary(dopt.Report)
	}
	if xr.Blocked {
		return nil, blocked(stageDir, opt, xr.Report)
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	ev.State("manifest", nil)
	if err := seal.finish(); err != nil {
		return nil, err
	}
	if err := writeDatasetProvenance(stage, c, xr, seal.prov, opt.Signer); err != nil {
		return nil, err
	}
	files, err := stage.Files()
	if err != nil {
		return nil, err
	}
	m, err := datasetManifest(c, xr, files, created)
	if err != nil {
		return nil, err
	}
	m.Encryption = seal.manifest
	res = &DatasetResult{Result: Result{OutDir: opt.OutDir, Package: opt.Package, Manifest: m}, Dataset: xr}
	err = finishRun(ctx, &res.Result, stageDir, files, mt, opt, &pkg, func() ([]byte, error) {
		r := readme.Dataset{ExportID: m.ExportID, Tenant: m.Tenant, ExporterVersion: m.ExporterVersion, ModTime: manifest.Timestamp(mt),
			Schema: s.Name + " " + s.Version, Format: d.Format, Codec: c.Compression.Codec, Records: xr.Manifest.Totals.Records,
			DataFiles: xr.Manifest.Totals.Files, FileCount: m.FileCount, PayloadBytes: m.PayloadBytes}
		if opt.Signer != nil {
			r.Signing = readme.Signing{SignedBy: opt.Signer.Fingerprint(), SignedProv: true}
		}
		return readme.RenderDataset(r)
	})
	if err != nil {
		return nil, err
	}
	ev.State("completed", map[string]any{"exportId": m.ExportID, "records": xr.Manifest.Totals.Records, "files": m.FileCount,
		"payloadRoot": m.PayloadRoot, "output": opt.OutDir})
	return res, nil
}

// blocked replaces the stage's content with the validation report alone
// and moves it into place as OutDir.
func blocked(stageDir string, opt Options, rep *validate.Report) error {
	b, err := rep.Bytes()
	if err != nil {
		return err
	}
	if err := os.RemoveAll(stageDir); err != nil {
		return err
	}
	if err := os.Mkdir(stageDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(stageDir, validate.FileName), append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := replaceDir(stageDir, opt.OutDir, opt.Force, opt.Protect); err != nil {
		return err
	}
	return &export.BlockedError{Report: filepath.Join(opt.OutDir, validate.FileName), Errors: rep.Errors, Code: rep.FirstError()}
}

func writeDatasetProvenance(stage *adapters.Stage, c *contract.Contract, xr *export.Result, enc *provenance.Encryption, signer bundle.Signer) error {
	files, err := stage.Files()
	if err != nil {
		return err
	}
	adapterJSON, err := json.Marshal(datasetAdapters(c))
	if err != nil {
		return err
	}
	selectors, err := json.Marshal(map[string]string{"datasetRef": c.Dataset.DatasetRef, "schemaRef": c.Dataset.SchemaRef})
	if err != nil {
		return err
	}
	head := provenance.Head{
		ExportID: c.ExportID, Profile: DatasetProfile(c), Tenant: c.Tenant,
		ExporterVersion: version.String(), Adapters: adapterJSON,
		Contract: descriptor("contract", c.Digest), Selectors: selectors, Encryption: enc,
	}
	if signer != nil {
		head.SigningKey = &provenance.SigningKey{KeyID: signer.Fingerprint()}
	}
	f, err := stage.Create(layout.Provenance)
	if err != nil {
		return err
	}
	subject := func(yield func(provenance.Descriptor, error) bool) {
		for f, err := range files.All() {
			if !yield(descriptor(f.Path, f.SHA256), err) || err != nil {
				return
			}
		}
	}
	inputs := func(yield func(provenance.Descriptor, error) bool) {
		in := []provenance.Descriptor{descriptor("schema:"+c.Dataset.SchemaRef, xr.Schema.Digest)}
		if xr.SourceDigest != "" {
			in = append(in, descriptor("source:"+c.Dataset.DatasetRef, xr.SourceDigest))
		}
		for _, d := range in {
			if !yield(d, nil) {
				return
			}
		}
	}
	if err := provenance.Write(f, head, subject, inputs); err != nil {
		f.Abort()
		return err
	}
	return f.Close()
}

func datasetAdapters(c *contract.Contract) []manifest.Adapter {
	return []manifest.Adapter{{Name: "dataset-" + c.Dataset.Format, Version: "1"}}
}

// datasetManifest is export.json of a dataset run: the data files listed
// with their records, counts {"records": N}, excluded {"suppressed": N},
// the payload root over every staged file. A dataset run has no plan:
// contract.planDigest is empty.
func datasetManifest(c *contract.Contract, xr *export.Result, files *adapters.Files, created time.Time) (*manifest.Run, error) {
	m := &manifest.Run{
		Format: manifest.Format, Profile: DatasetProfile(c), ExportID: c.ExportID, Tenant: c.Tenant,
		CreatedAtUTC: manifest.Timestamp(created), RetentionDays: c.RetentionDays,
		ExporterVersion: version.String(), Adapters: datasetAdapters(c),
		Contract:  manifest.RunContract{Digest: c.Digest},
		Selectors: manifest.RunSelectors{Tenants: []string{c.Tenant}, Products: []string{}, SBOMSubjects: []string{}, Ecosystems: []string{}},
		Counts:    map[string]int{"records": int(xr.Manifest.Totals.Records), "sourceRows": int(xr.Manifest.Totals.SourceRows)},
		Excluded:  map[string]int{"suppressed": int(xr.Manifest.Redaction.SuppressedRows)},
		Invalid:   []manifest.Invalid{}, Files: []manifest.RunFile{},
		Compression: manifest.Compression{Codec: c.Compression.Codec, Level: c.Compression.Level},
	}
	if c.RetentionDays > 0 {
		m.ExpiresAtUTC = manifest.Timestamp(created.AddDate(0, 0, c.RetentionDays))
	}
	err := payloadFiles(m, files, func(f adapters.File) {
		if strings.HasPrefix(f.Path, export.DataDir+"/") {
			m.Files = append(m.Files, manifest.RunFile{Path: f.Path, SHA256: f.SHA256, Size: f.Size, Records: f.Records, Compression: c.Compression.Codec})
		}
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}
