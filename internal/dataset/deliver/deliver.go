// Package deliver finishes a DatasetExport after its export directory (and
// bundle) are in place (docs/dataset.md#delivery): delivery_method local
// copies the bundle, or the directory, to the expanded destination, write
// once; s3, presigned and snowflake write a delivery descriptor (target,
// files, digests; for Snowflake the external table's DDL) into the emit
// outbox, with the consent ledger entry, the lineage and the audit events,
// for `emit relay` to deliver. Nothing here opens a network connection.
package deliver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/dataset/export"
	"github.com/stella-ops/stella-export/internal/dataset/table"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/notify"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// Bundle describes the run's bundle, when it packaged one.
type Bundle struct {
	Path   string // as given to --package
	SHA256 string // bare hex
	Root   string // sha256:<Merkle root>
}

// Descriptor is the delivery descriptor: what a connected side uploads
// where. Paths are relative to the export directory (or the bundle).
type Descriptor struct {
	Format         string                `json:"format"`
	Method         string                `json:"method"`
	Target         string                `json:"target"`
	ExportID       string                `json:"exportId"`
	Tenant         string                `json:"tenant"`
	DataFormat     string                `json:"dataFormat"`
	Compression    string                `json:"compression"`
	Files          []export.ManifestFile `json:"files"`
	ManifestSHA256 string                `json:"manifestSha256"`
	Bundle         *DescriptorBundle     `json:"bundle,omitempty"`
	// DDL is the Snowflake external table over the data files (snowflake).
	DDL string `json:"ddl,omitempty"`
}

// DescriptorBundle names the bundle to upload instead of the files.
type DescriptorBundle struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Root   string `json:"root"`
}

// DescriptorFormat is the descriptor's format string.
const DescriptorFormat = "stella-export/dataset-delivery/v1"

// NewDescriptor describes the delivery of res to target.
func NewDescriptor(c *contract.Contract, res *export.Result, target string, b *Bundle) (*Descriptor, error) {
	m := res.Manifest
	mb, err := canonjson.MarshalLine(m)
	if err != nil {
		return nil, err
	}
	d := &Descriptor{Format: DescriptorFormat, Method: c.Dataset.DeliveryMethod, Target: target, ExportID: c.ExportID, Tenant: c.Tenant,
		DataFormat: m.DataFormat, Compression: m.Compression.Codec, Files: m.Files, ManifestSHA256: digest.Sum(mb).String()}
	if b != nil {
		d.Bundle = &DescriptorBundle{Name: filepath.Base(b.Path), SHA256: b.SHA256, Root: b.Root}
	}
	if d.Method == contract.DeliverSnowflake {
		cols := make([]table.Column, len(m.Columns))
		for i, col := range m.Columns {
			cols[i] = table.Column{Name: col.Name, Type: table.Type(col.Type)}
		}
		d.DDL = SnowflakeDDL(res.Schema.Name, target, m.DataFormat, m.Compression.Codec, cols)
	}
	return d, nil
}

// snowflakeTypes maps column types to Snowflake's.
var snowflakeTypes = map[table.Type]string{
	table.String: "VARCHAR", table.Int: "NUMBER(38,0)", table.Float: "FLOAT", table.Bool: "BOOLEAN",
	table.Date: "DATE", table.Timestamp: "TIMESTAMP_TZ",
}

// SnowflakeDDL is a CREATE EXTERNAL TABLE over the data files at location
// (an external stage, @STAGE/path): one virtual column per output column,
// read from Snowflake's VALUE by position (CSV, c1, c2, ...) or by name
// (JSON lines, Parquet).
func SnowflakeDDL(name, location, format, codec string, cols []table.Column) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE EXTERNAL TABLE IF NOT EXISTS %s (\n", sfIdent(name))
	for i, col := range cols {
		src := fmt.Sprintf("VALUE:c%d", i+1)
		if format != contract.FormatCSV {
			src = "VALUE:" + sfIdent(col.Name)
		}
		sep := ","
		if i == len(cols)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "  %s %s AS (%s::%s)%s\n", sfIdent(col.Name), snowflakeTypes[col.Type], src, snowflakeTypes[col.Type], sep)
	}
	loc := strings.TrimPrefix(location, "snowflake://")
	ext := map[string]string{contract.FormatCSV: "csv", contract.FormatJSONL: "jsonl", contract.FormatParquet: "parquet"}[format]
	fmt.Fprintf(&b, ")\nLOCATION = %s/data/\nPATTERN = '.*part-[0-9]+[.]%s.*'\n", strings.TrimSuffix(loc, "/"), ext)
	switch format {
	case contract.FormatCSV:
		comp := map[string]string{"none": "NONE", "gzip": "GZIP", "zstd": "ZSTD"}[codec]
		fmt.Fprintf(&b, "FILE_FORMAT = (TYPE = CSV SKIP_HEADER = 1 FIELD_OPTIONALLY_ENCLOSED_BY = '\"' EMPTY_FIELD_AS_NULL = TRUE COMPRESSION = %s);\n", comp)
	case contract.FormatJSONL:
		comp := map[string]string{"none": "NONE", "gzip": "GZIP", "zstd": "ZSTD"}[codec]
		fmt.Fprintf(&b, "FILE_FORMAT = (TYPE = JSON COMPRESSION = %s);\n", comp)
	default:
		b.WriteString("FILE_FORMAT = (TYPE = PARQUET);\n")
	}
	return b.String()
}

func sfIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Events reads the dataset documents of the export directory dir and
// makes the outbox events: the consent ledger entry (without its subject
// list when the entry would not fit an outbox entry: then
// dataSubjectsOmitted and the file's digest say where it is), the lineage
// and audit events, and the delivery descriptor when there is one.
func Events(dir string, c *contract.Contract, createdAt string, desc *Descriptor) ([]*notify.Event, error) {
	var evs []*notify.Event
	add := func(typ string, data any) error {
		e, err := notify.NewEvent(typ, c.ExportID, c.Tenant, createdAt, data)
		if err == nil {
			evs = append(evs, e)
		}
		return err
	}
	ledger, err := readDoc(dir, export.LedgerName, 0)
	if err != nil {
		return nil, err
	}
	if len(ledger) > notify.MaxEntry/2 {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(ledger, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", export.LedgerName, err)
		}
		delete(m, "dataSubjects")
		m["dataSubjectsOmitted"] = json.RawMessage("true")
		m["ledgerSha256"], _ = json.Marshal(digest.Sum(ledger).String())
		if err := add(notify.EventLedger, m); err != nil {
			return nil, err
		}
	} else if err := add(notify.EventLedger, json.RawMessage(ledger)); err != nil {
		return nil, err
	}
	for _, d := range []struct{ typ, name string }{{notify.EventLineage, export.LineageName}, {notify.EventAudit, export.AuditName}} {
		b, err := readDoc(dir, d.name, notify.MaxEntry/2)
		if err != nil {
			return nil, err
		}
		if err := add(d.typ, json.RawMessage(b)); err != nil {
			return nil, err
		}
	}
	if desc != nil {
		if err := add(notify.EventDelivery, desc); err != nil {
			return nil, err
		}
	}
	return evs, nil
}

// maxLedger bounds the consent ledger entry read back (a subject is 67
// bytes: some 16 million subjects).
const maxLedger = 1 << 30

func readDoc(dir, name string, limit int64) ([]byte, error) {
	if limit == 0 {
		limit = maxLedger
	}
	b, err := safefile.ReadAll(filepath.Join(dir, filepath.FromSlash(name)), limit)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

// Queue puts the events into the outbox at dir.
func Queue(ctx context.Context, dir string, evs []*notify.Event) ([]*notify.EmitResult, error) {
	o := notify.Outbox{Dir: dir}
	var out []*notify.EmitResult
	for _, e := range evs {
		r, err := o.Put(ctx, e)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// ConflictError: the local destination holds the export already (exit 5).
type ConflictError struct{ Path string }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("deliver: %s already exists; a local delivery is written once", e.Path)
}

func (e *ConflictError) Unwrap() error { return exitcode.ErrConflict }

// Local copies src (the bundle file, or the export directory) into the
// directory dest, created as needed, under src's base name: to a temporary
// name first (directories: _SUCCESS copied last), then renamed, never
// replacing what is there. It returns the delivered path.
func Local(ctx context.Context, src, dest string) (string, error) {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return "", fmt.Errorf("deliver: %w", err)
	}
	target := filepath.Join(dest, filepath.Base(filepath.Clean(src)))
	if _, err := os.Lstat(target); err == nil {
		return "", &ConflictError{Path: target}
	}
	st, err := os.Stat(src)
	if err != nil {
		return "", err
	}
	if !st.IsDir() {
		if err := copyFile(src, target); err != nil {
			return "", err
		}
		return target, nil
	}
	tmp, err := os.MkdirTemp(dest, ".deliver-")
	if err != nil {
		return "", fmt.Errorf("deliver: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	var success string
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(tmp, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		case !d.Type().IsRegular():
			return exitcode.Invalidf("deliver: %s is not a regular file", p)
		case rel == export.SuccessName:
			success = p
			return nil
		}
		return copyPlain(p, out)
	})
	if err == nil && success != "" {
		err = copyPlain(success, filepath.Join(tmp, export.SuccessName))
	}
	if err != nil {
		return "", fmt.Errorf("deliver: %w", err)
	}
	if err := os.Rename(tmp, target); err != nil {
		if _, serr := os.Lstat(target); serr == nil {
			return "", &ConflictError{Path: target}
		}
		return "", fmt.Errorf("deliver: %w", err)
	}
	ok = true
	return target, nil
}

// copyFile copies a file to a new name atomically, never replacing one.
func copyFile(src, dst string) error {
	in, err := safefile.OpenNoFollow(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := atomicfile.Create(dst, false)
	if err != nil {
		var ee *atomicfile.ExistsError
		if errors.As(err, &ee) {
			return &ConflictError{Path: dst}
		}
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Abort()
		return err
	}
	return out.Commit()
}

func copyPlain(src, dst string) error {
	in, err := safefile.OpenNoFollow(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
