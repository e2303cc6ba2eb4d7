package export

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/extsort"
)

// Ledger is the consent ledger entry of the export runbook
// (docs/dataset.md#consent-ledger). dataSubjects are the salted hashes of
// the exported rows' subject ids, sorted, each once.
type Ledger struct {
	Format                string   `json:"format"`
	ExportJobID           string   `json:"exportJobId"`
	Tenant                string   `json:"tenant"`
	DataSubjects          []string `json:"dataSubjects"`
	DataSubjectCount      int64    `json:"dataSubjectCount"`
	ConsentScope          string   `json:"consentScope,omitempty"`
	ExportHashMode        string   `json:"exportHashMode,omitempty"`
	HashKeyID             string   `json:"hashKeyId,omitempty"`
	RetentionWindow       string   `json:"retentionWindow,omitempty"`
	RetentionDays         int      `json:"retentionDays,omitempty"`
	ExportPeriodStart     string   `json:"exportPeriodStart,omitempty"`
	ExportPeriodEnd       string   `json:"exportPeriodEnd,omitempty"`
	ExportType            string   `json:"exportType,omitempty"`
	ExportReason          string   `json:"exportReason,omitempty"`
	RequestedBy           string   `json:"requestedBy,omitempty"`
	ExportedAt            string   `json:"exportedAt"`
	StorageLocation       string   `json:"storageLocation,omitempty"`
	ExportSHA256Hash      string   `json:"exportSha256Hash"`
	Encrypted             bool     `json:"encrypted"`
	KMSKeyID              string   `json:"kmsKeyId,omitempty"`
	VAWAProtected         bool     `json:"vawaProtected"`
	VAWASuppressedRecords int64    `json:"vawaSuppressedRecords"`
}

// LedgerFormat is the ledger entry's format string.
const LedgerFormat = "stella-export/consent-ledger-entry/v1"

func newLedger(c *contract.Contract, m *Manifest, manifestSum string, opt Options) *Ledger {
	d := c.Dataset
	l := &Ledger{Format: LedgerFormat, ExportJobID: c.ExportID, Tenant: c.Tenant, DataSubjects: []string{},
		ConsentScope: d.ConsentScope, ExportHashMode: d.HashMode, RetentionDays: c.RetentionDays, RetentionWindow: m.ExpiresAt,
		ExportType: d.ExportType, ExportReason: d.ExportReason, RequestedBy: d.RequestedBy, ExportedAt: m.ExportedAt,
		StorageLocation: m.Destination, ExportSHA256Hash: manifestSum, Encrypted: opt.Encrypted, KMSKeyID: opt.KeyID,
		VAWAProtected: len(d.Redaction.SuppressWhere) > 0, VAWASuppressedRecords: m.Redaction.SuppressedRows}
	if opt.Hasher != nil {
		l.HashKeyID = opt.Hasher.KeyID
	}
	if !d.PeriodStart.IsZero() {
		l.ExportPeriodStart, l.ExportPeriodEnd = d.PeriodStart.Format(time.DateOnly), d.PeriodEnd.Format(time.DateOnly)
	}
	return l
}

// subjects collects hashed subject ids in an external sort, so that
// millions of subjects cost the stage's memory budget at most.
type subjects struct {
	ctx    context.Context
	sorter *extsort.Sorter
	sorted *extsort.Sorted
}

func newSubjects(ctx context.Context, stage *adapters.Stage) *subjects {
	return &subjects{ctx: ctx, sorter: stage.Sorter(bytes.Compare)}
}

func (s *subjects) add(h string) error { return s.sorter.Add([]byte(h)) }

func (s *subjects) close() {
	s.sorter.Close()
	if s.sorted != nil {
		s.sorted.Close()
	}
}

// writeLedger stages the ledger entry, streaming the subjects into it:
// the entry is canonical JSON with "dataSubjects":[] spliced open.
func writeLedger(ctx context.Context, stage *adapters.Stage, l *Ledger, subs *subjects) error {
	sorted, err := subs.sorter.Sort(ctx)
	if err != nil {
		return err
	}
	subs.sorted = sorted
	// count first: the count precedes the list in key order
	var count int64
	var prev []byte
	for rec, err := range sorted.All() {
		if err != nil {
			return err
		}
		if prev == nil || !bytes.Equal(rec, prev) {
			count++
		}
		prev = slices.Clone(rec)
	}
	l.DataSubjectCount = count
	b, err := canonjson.MarshalLine(l)
	if err != nil {
		return err
	}
	const open = `"dataSubjects":[`
	i := bytes.Index(b, []byte(open+"]"))
	if i < 0 {
		return fmt.Errorf("internal error: ledger entry without dataSubjects")
	}
	f, err := stage.Create(LedgerName)
	if err != nil {
		return err
	}
	f.Records = 1
	bw := bufio.NewWriterSize(f, 64<<10)
	w := &errWriter{w: bw}
	w.write(b[:i+len(open)])
	prev = nil
	first := true
	for rec, err := range sorted.All() {
		if err != nil {
			f.Abort()
			return err
		}
		if prev != nil && bytes.Equal(rec, prev) {
			continue
		}
		prev = slices.Clone(rec)
		if !first {
			w.write([]byte{','})
		}
		first = false
		w.write([]byte{'"'})
		w.write(rec) // lower-case hex: nothing to escape
		w.write([]byte{'"'})
	}
	w.write(b[i+len(open):])
	if w.err == nil {
		w.err = bw.Flush()
	}
	if w.err != nil {
		f.Abort()
		return w.err
	}
	return f.Close()
}

type errWriter struct {
	w   interface{ Write([]byte) (int, error) }
	err error
}

func (e *errWriter) write(p []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(p)
	}
}

// Lineage is events/lineage.json: which inputs made which outputs.
type Lineage struct {
	Format    string         `json:"format"`
	EventType string         `json:"eventType"`
	ExportID  string         `json:"exportId"`
	Tenant    string         `json:"tenant"`
	EventTime string         `json:"eventTime"`
	Inputs    []LineageInput `json:"inputs"`
	Outputs   []ManifestFile `json:"outputs"`
}

// LineageInput is a source or schema.
type LineageInput struct {
	Role   string `json:"role"`
	Ref    string `json:"ref"`
	SHA256 string `json:"sha256,omitempty"`
}

// Audit is events/audit.json: who exported what, when, and how much.
type Audit struct {
	Format         string `json:"format"`
	EventType      string `json:"eventType"`
	ExportID       string `json:"exportId"`
	Tenant         string `json:"tenant"`
	EventTime      string `json:"eventTime"`
	RequestedBy    string `json:"requestedBy,omitempty"`
	ExportReason   string `json:"exportReason,omitempty"`
	Records        int64  `json:"records"`
	SourceRows     int64  `json:"sourceRows"`
	SuppressedRows int64  `json:"suppressedRows"`
	Files          int    `json:"files"`
	ManifestSHA256 string `json:"manifestSha256"`
	Destination    string `json:"destination,omitempty"`
	DeliveryMethod string `json:"deliveryMethod"`
}

// Event formats.
const (
	LineageFormat = "stella-export/lineage-event/v1"
	AuditFormat   = "stella-export/audit-event/v1"
)

func writeEvents(stage *adapters.Stage, c *contract.Contract, m *Manifest, res *Result, manifestSum string) error {
	lin := Lineage{Format: LineageFormat, EventType: "dataset.export", ExportID: c.ExportID, Tenant: c.Tenant, EventTime: m.ExportedAt,
		Inputs: []LineageInput{
			{Role: "source", Ref: c.Dataset.DatasetRef, SHA256: res.SourceDigest},
			{Role: "schema", Ref: c.Dataset.SchemaRef, SHA256: res.Schema.Digest},
			{Role: "contract", Ref: "contract", SHA256: c.Digest},
		},
		Outputs: m.Files}
	aud := Audit{Format: AuditFormat, EventType: "dataset.export.completed", ExportID: c.ExportID, Tenant: c.Tenant, EventTime: m.ExportedAt,
		RequestedBy: c.Dataset.RequestedBy, ExportReason: c.Dataset.ExportReason, Records: m.Totals.Records, SourceRows: m.Totals.SourceRows,
		SuppressedRows: m.Redaction.SuppressedRows, Files: m.Totals.Files, ManifestSHA256: manifestSum,
		Destination: m.Destination, DeliveryMethod: m.DeliveryMethod}
	for _, e := range []struct {
		name string
		v    any
	}{{LineageName, lin}, {AuditName, aud}} {
		b, err := canonjson.MarshalLine(e.v)
		if err != nil {
			return err
		}
		if err := stage.WriteFile(e.name, b, 1); err != nil {
			return err
		}
	}
	return nil
}
