// Package export runs the dataset part of a DatasetExport
// (docs/dataset.md): it reads the source as rows of the schema, checks
// each row against the validation guardrails, redacts it, optionally
// aggregates, and writes the data files (split by rows or size) and the
// dataset documents into a run's stage:
//
//	data/part-00001.csv[.gz|.zst]   the rows (or .jsonl, .parquet)
//	validation-report.json          the guardrails' report
//	manifest.json                   files with SHA-256, size, records; totals; schema; redaction
//	manifest.sha256                 the same digests for sha256sum -c
//	consent-ledger.json             the consent ledger entry (runbook fields)
//	events/lineage.json             the lineage event
//	events/audit.json               the audit event
//	_SUCCESS                        staged last of these: the export id, record count and manifest digest
//
// A guardrail error blocks the export: Export stops writing data files at
// the first one, reads the rest of the source to complete the report, and
// returns a Result with Blocked set and only the report.
package export

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/ctxio"
	"github.com/stella-ops/stella-export/internal/dataset/redact"
	"github.com/stella-ops/stella-export/internal/dataset/schema"
	"github.com/stella-ops/stella-export/internal/dataset/table"
	"github.com/stella-ops/stella-export/internal/dataset/validate"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/manifest"
)

// Names of the dataset documents in the export directory.
const (
	ManifestName = "manifest.json"
	SumsName     = "manifest.sha256"
	LedgerName   = "consent-ledger.json"
	LineageName  = "events/lineage.json"
	AuditName    = "events/audit.json"
	SuccessName  = "_SUCCESS"
	DataDir      = "data"
)

// ManifestFormat is manifest.json's format string.
const ManifestFormat = "stella-export/dataset-manifest/v1"

// Options configure Export.
type Options struct {
	// Hasher hashes redacted identifiers and the ledger's subjects; nil
	// when redact.NeedsHasher is false.
	Hasher *redact.Hasher
	// ExportedAt is the export's time (the run's pinned createdAtUtc).
	ExportedAt time.Time
	// Encrypted and KeyID describe the run's encryption for the ledger.
	Encrypted bool
	KeyID     string
	// Progress, when set, is called with the rows read so far every
	// 65536 rows.
	Progress func(rows int64)
}

// Result is what Export wrote.
type Result struct {
	Blocked  bool
	Report   *validate.Report
	Manifest *Manifest
	Ledger   *Ledger
	// Files are the data files staged, in order.
	Files []adapters.File
	// SourceDigest is the source file's SHA-256 ("" for SQLite).
	SourceDigest string
	Schema       *schema.Schema
	// Output is the data files' columns (after redaction, or the
	// aggregates').
	Output table.Schema
}

// Manifest is manifest.json.
type Manifest struct {
	Format         string               `json:"format"`
	ExportID       string               `json:"exportId"`
	Tenant         string               `json:"tenant"`
	ExportedAt     string               `json:"exportedAt"`
	Source         ManifestSource       `json:"source"`
	Schema         validate.SchemaRef   `json:"schema"`
	DataFormat     string               `json:"dataFormat"`
	Compression    manifest.Compression `json:"compression"`
	Columns        []ManifestColumn     `json:"columns"`
	Files          []ManifestFile       `json:"files"`
	Totals         Totals               `json:"totals"`
	Redaction      redact.Summary       `json:"redaction"`
	Aggregation    *AggregationSummary  `json:"aggregation,omitempty"`
	Validation     ValidationSummary    `json:"validation"`
	Period         *Period              `json:"period,omitempty"`
	Destination    string               `json:"destination,omitempty"`
	DeliveryMethod string               `json:"deliveryMethod"`
	RetentionDays  int                  `json:"retentionDays,omitempty"`
	ExpiresAt      string               `json:"expiresAt,omitempty"`
}

// ManifestSource names the source as the contract wrote it.
type ManifestSource struct {
	Ref    string `json:"ref"`
	SHA256 string `json:"sha256,omitempty"`
}

// ManifestColumn is an output column.
type ManifestColumn struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Required bool   `json:"required"`
}

// ManifestFile is one data file.
type ManifestFile struct {
	Path    string `json:"path"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	Records int64  `json:"records"`
}

// Totals sum the data files and count the source rows.
type Totals struct {
	Files      int   `json:"files"`
	Bytes      int64 `json:"bytes"`
	Records    int64 `json:"records"`
	SourceRows int64 `json:"sourceRows"`
}

// ValidationSummary points at the report.
type ValidationSummary struct {
	Report   string `json:"report"`
	Errors   int64  `json:"errors"`
	Warnings int64  `json:"warnings"`
}

// Period is the export period.
type Period struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// Export reads src (rows of s) and stages the export.
func Export(ctx context.Context, c *contract.Contract, s *schema.Schema, src *Source, stage *adapters.Stage, opt Options) (*Result, error) {
	d := c.Dataset
	plan, err := redact.New(c, s, opt.Hasher)
	if err != nil {
		return nil, err
	}
	v := validate.New(c.ExportID, s, d.Validation, plan.Shown)
	out := plan.Out
	var agg *aggregator
	if d.Aggregation != nil {
		if agg, err = newAggregator(c, out); err != nil {
			return nil, err
		}
		out = agg.out
	}
	res := &Result{Schema: s, Output: out}
	fs := &files{c: c, stage: stage, schema: out}
	defer fs.abort()
	subjects := newSubjects(ctx, stage)
	defer subjects.close()

	row := make(table.Row, len(plan.Out.Columns))
	var n int64
	for {
		if n&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				return nil, context.Cause(ctx)
			}
			if opt.Progress != nil && n > 0 {
				opt.Progress(n)
			}
		}
		in, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		n++
		v.Check(n, in)
		if v.Blocked() {
			if err := fs.discard(); err != nil {
				return nil, err
			}
			continue
		}
		if !plan.Apply(in, row) {
			continue
		}
		if h := plan.Subject(in); h != "" {
			if err := subjects.add(h); err != nil {
				return nil, err
			}
		}
		if agg != nil {
			if err := agg.add(row); err != nil {
				return nil, err
			}
			continue
		}
		if err := fs.write(row); err != nil {
			return nil, err
		}
	}
	rep := v.Report()
	res.Report = rep
	res.SourceDigest = src.Digest()
	if rep.Blocked {
		res.Blocked = true
		return res, nil
	}
	rb, err := canonjson.MarshalLine(rep)
	if err != nil {
		return nil, err
	}
	if agg != nil {
		if err := agg.flush(fs.write); err != nil {
			return nil, err
		}
	}
	if err := fs.finish(); err != nil {
		return nil, err
	}
	res.Files = fs.done
	if err := stage.WriteFile(validate.FileName, rb, 0); err != nil {
		return nil, err
	}

	m := &Manifest{Format: ManifestFormat, ExportID: c.ExportID, Tenant: c.Tenant, ExportedAt: stamp(opt.ExportedAt),
		Source: ManifestSource{Ref: d.DatasetRef, SHA256: res.SourceDigest},
		Schema: rep.Schema, DataFormat: d.Format, Compression: manifest.Compression{Codec: c.Compression.Codec, Level: c.Compression.Level}, Columns: []ManifestColumn{}, Files: []ManifestFile{},
		Redaction: plan.Summary(), Validation: ValidationSummary{Report: validate.FileName, Errors: rep.Errors, Warnings: rep.Warnings},
		Destination: Destination(c, opt.ExportedAt), DeliveryMethod: d.DeliveryMethod, RetentionDays: c.RetentionDays}
	if c.RetentionDays > 0 {
		m.ExpiresAt = stamp(opt.ExportedAt.AddDate(0, 0, c.RetentionDays))
	}
	if !d.PeriodStart.IsZero() {
		m.Period = &Period{Start: d.PeriodStart.Format(time.DateOnly), End: d.PeriodEnd.Format(time.DateOnly)}
	}
	if agg != nil {
		m.Aggregation = agg.summary()
	}
	for _, col := range out.Columns {
		m.Columns = append(m.Columns, ManifestColumn{Name: col.Name, Type: string(col.Type), Required: col.Required})
	}
	var sums bytes.Buffer
	for _, f := range fs.done {
		m.Files = append(m.Files, ManifestFile{Path: f.Path, SHA256: f.SHA256, Size: f.Size, Records: int64(f.Records)})
		m.Totals.Files++
		m.Totals.Bytes += f.Size
		m.Totals.Records += int64(f.Records)
		fmt.Fprintf(&sums, "%s  %s\n", strings.TrimPrefix(f.SHA256, digest.Prefix), f.Path)
	}
	m.Totals.SourceRows = n
	mb, err := canonjson.MarshalLine(m)
	if err != nil {
		return nil, err
	}
	if err := stage.WriteFile(ManifestName, mb, 0); err != nil {
		return nil, err
	}
	manifestSum := digest.Sum(mb)
	fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(manifestSum[:]), ManifestName)
	if err := stage.WriteFile(SumsName, sums.Bytes(), 0); err != nil {
		return nil, err
	}
	res.Manifest = m

	led := newLedger(c, m, manifestSum.String(), opt)
	res.Ledger = led
	if err := writeLedger(ctx, stage, led, subjects); err != nil {
		return nil, err
	}
	if err := writeEvents(stage, c, m, res, manifestSum.String()); err != nil {
		return nil, err
	}
	ok := fmt.Sprintf("exportId %s\nrecords %d\nmanifest.json %s\n", c.ExportID, m.Totals.Records, manifestSum)
	if err := stage.WriteFile(SuccessName, []byte(ok), 0); err != nil {
		return nil, err
	}
	return res, nil
}

// stamp formats a time as the documents do: RFC 3339 UTC, whole seconds.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Destination expands the contract's destination: {year} and {month} from
// the period's start (else the export time), {tenant}, {export_id}.
func Destination(c *contract.Contract, at time.Time) string {
	d := c.Dataset
	if d.Destination == "" {
		return ""
	}
	t := at
	if !d.PeriodStart.IsZero() {
		t = d.PeriodStart
	}
	return strings.NewReplacer("{year}", fmt.Sprintf("%04d", t.Year()), "{month}", fmt.Sprintf("%02d", int(t.Month())),
		"{tenant}", c.Tenant, "{export_id}", c.ExportID).Replace(d.Destination)
}

// files writes the data files, starting a new one at the split bounds.
type files struct {
	c      *contract.Contract
	stage  *adapters.Stage
	schema table.Schema
	cur    *adapters.StagedFile
	name   string // cur's name
	w      *fileWriter
	count  *ctxio.CountWriter
	rows   int64
	done   []adapters.File
}

func (fs *files) open() error {
	d := fs.c.Dataset
	name := fmt.Sprintf("%s/part-%05d%s", DataDir, len(fs.done)+1, extension(d.Format, fs.c.Compression.Codec))
	f, err := fs.stage.Create(name)
	if err != nil {
		return err
	}
	fs.count = &ctxio.CountWriter{W: f}
	w, err := newWriter(d.Format, fs.c.Compression, fs.count, fs.schema)
	if err != nil {
		f.Abort()
		return err
	}
	fs.cur, fs.name, fs.w, fs.rows = f, name, w, 0
	return nil
}

func (fs *files) write(r table.Row) error {
	if fs.cur == nil {
		if err := fs.open(); err != nil {
			return err
		}
	}
	if err := fs.w.Write(r); err != nil {
		return err
	}
	fs.rows++
	sp := fs.c.Dataset.Split
	if (sp.Rows > 0 && fs.rows >= sp.Rows) || (sp.Bytes > 0 && fs.count.N >= sp.Bytes) {
		return fs.close()
	}
	return nil
}

func (fs *files) close() error {
	if fs.cur == nil {
		return nil
	}
	f := fs.cur
	fs.cur = nil
	if err := fs.w.Close(); err != nil {
		f.Abort()
		return err
	}
	f.Records = int(fs.rows)
	if err := f.Close(); err != nil {
		return err
	}
	fs.done = append(fs.done, f.File())
	return nil
}

// finish closes the last file; an export of no rows still has one data
// file (a CSV header, an empty JSON lines file), so that consumers find
// the columns.
func (fs *files) finish() error {
	if fs.cur == nil && len(fs.done) == 0 {
		if err := fs.open(); err != nil {
			return err
		}
	}
	return fs.close()
}

func (fs *files) abort() {
	if fs.cur != nil {
		fs.cur.Abort()
		fs.cur = nil
	}
}

// discard removes the data files written so far: validation blocked the
// export. The stage is discarded by its owner; this keeps a blocked
// export's stage free of data from the first row on.
func (fs *files) discard() error {
	if fs.cur != nil {
		fs.abort()
		// an encrypted file has another name: the owner's removal of
		// the stage takes it
		if err := os.Remove(filepath.Join(fs.stage.Dir, filepath.FromSlash(fs.name))); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return err
		}
	}
	for _, f := range fs.done {
		if err := os.Remove(filepath.Join(fs.stage.Dir, filepath.FromSlash(f.Path))); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return err
		}
	}
	fs.done = nil
	return nil
}

// BlockedError: guardrail errors blocked the export (exit 3).
type BlockedError struct {
	Report string // where the report was written
	Errors int64
	// Code is the first guardrail code (in documentation order) with a
	// blocking error: the failure's stable code.
	Code string
}

// ErrorCode returns the guardrail code that blocked the export.
func (e *BlockedError) ErrorCode() string { return e.Code }

func (e *BlockedError) Error() string {
	return fmt.Sprintf("validation: %d guardrail errors block the export; only %s was written", e.Errors, e.Report)
}

func (e *BlockedError) Unwrap() error { return exitcode.ErrInvalid }
