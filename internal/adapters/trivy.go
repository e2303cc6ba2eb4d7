package adapters

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/manifest"
	"github.com/stella-ops/stella-export/internal/trivydb"
)

func init() {
	Register(trivyDB{})
}

// trivyDB writes Trivy's vulnerability database (internal/trivydb) from the
// selected OSV advisories: db/trivy.db and db/metadata.json, the layout of
// Trivy's --cache-dir, so that
//
//	trivy fs --cache-dir <export directory> --skip-db-update --skip-java-db-update --offline-scan DIR
//
// scans against it. The advisories are parsed on every core and added in
// plan order; the database bytes depend only on the set of advisories.
type trivyDB struct{}

func (trivyDB) Name() string    { return "trivy:db" }
func (trivyDB) Version() string { return "1" }

// metadataInterval is the time from UpdatedAt to NextUpdate in metadata.json
// when the contract sets no retention_days: trivy-db's own update interval.
const metadataInterval = 24 * time.Hour

func (trivyDB) Outputs(in *Input) []Output {
	return []Output{{Path: trivydb.DBFile, Records: in.Count(evidence.Advisory)}, {Path: trivydb.MetadataFile, Records: 1}}
}

// trivyMetadata is the times of metadata.json: the export's creation time,
// and for NextUpdate its expiry (retention_days) or a day later.
func trivyMetadata(in *Input) trivydb.Metadata {
	next := in.CreatedAt.Add(metadataInterval)
	if in.RetentionDays > 0 {
		next = in.CreatedAt.AddDate(0, 0, in.RetentionDays)
	}
	return trivydb.Metadata{UpdatedAt: in.CreatedAt, DownloadedAt: in.CreatedAt, NextUpdate: next}
}

func (a trivyDB) Run(ctx context.Context, job *Job) error {
	b, err := trivydb.New(trivydb.Options{Schema: job.TrivySchema, Metadata: trivyMetadata(job.Input)})
	if err != nil {
		return err
	}
	n := job.Count(evidence.Advisory)
	job.Events.Emit("adapter.start", map[string]any{"adapter": a.Name(), "output": trivydb.DBFile, "records": n})
	keep := func(d *evidence.Doc) (bool, bool) {
		return d.Type == evidence.Advisory, d.Type == evidence.Advisory || typeIndex(d.Type) < typeIndex(evidence.Advisory)
	}
	work := func(it *item) error {
		data, err := job.readAll(&it.doc, &it.buf)
		if err != nil {
			return err
		}
		adv, err := trivydb.ParseOSV(data, it.doc.Path)
		if err != nil {
			return fmt.Errorf("%s: %w", it.doc.Path, err)
		}
		it.val = adv
		return nil
	}
	records := 0
	emit := func(it *item) error {
		b.Add(it.val.(*trivydb.Advisory))
		records++
		if records%chunkRecords == 0 {
			job.Events.Emit("adapter.chunk", map[string]any{"adapter": a.Name(), "output": trivydb.DBFile, "records": records})
		}
		return nil
	}
	if err := ordered(ctx, job.Docs, keep, work, emit); err != nil {
		return err
	}
	s, err := b.Write(ctx, job.Stage.Dir)
	if err != nil {
		return err
	}
	db, err := job.Stage.Adopt(trivydb.DBFile, records)
	if err != nil {
		return err
	}
	if _, err := job.Stage.Adopt(trivydb.MetadataFile, 1); err != nil {
		return err
	}
	job.TrivyDB = trivySummary(s)
	job.Events.Emit("adapter.complete", map[string]any{"adapter": a.Name(), "output": trivydb.DBFile, "records": records,
		"bytes": db.Size, "sha256": db.SHA256, "vulnerabilities": s.Vulnerabilities, "leftOut": s.LeftOut})
	return nil
}

func trivySummary(s trivydb.Summary) *manifest.TrivyDB {
	m := &manifest.TrivyDB{Schema: s.Schema, Advisories: s.Advisories, Included: s.Included, LeftOut: s.LeftOut,
		Vulnerabilities: s.Vulnerabilities, Packages: s.Packages, Severities: s.Severities, Reasons: s.Reasons,
		Skipped: []manifest.TrivySkip{}}
	for _, k := range s.Skipped {
		m.Skipped = append(m.Skipped, manifest.TrivySkip{Advisory: k.Advisory, Path: k.Source, Ecosystem: k.Ecosystem,
			Package: k.Package, Reason: k.Reason, Detail: k.Detail})
	}
	return m
}

// readAll returns the whole document, checked against its planned digest,
// in buf's memory when it had to be read through ReaderAt.
func (job *Job) readAll(d *evidence.Doc, buf *bytes.Buffer) ([]byte, error) {
	src, err := job.Open(d)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	if src.Bytes != nil {
		return src.Bytes, nil
	}
	buf.Reset()
	buf.Grow(int(src.Size))
	b := buf.Bytes()[:src.Size]
	if _, err := src.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("read %s: %w", d.Path, err)
	}
	return b, nil
}
