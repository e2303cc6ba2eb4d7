package adapters

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/javadb"
	"github.com/stella-ops/stella-export/internal/manifest"
)

func init() {
	Register(trivyJavaDB{})
}

// trivyJavaDB writes Trivy's Java database (internal/javadb) from the
// Maven artefact index: java-db/trivy-java.db and java-db/metadata.json,
// the layout of Trivy's --cache-dir, so that
//
//	trivy rootfs --cache-dir <export directory> --skip-db-update --skip-java-db-update --offline-scan DIR
//
// names jars by their SHA-1. The index files are read in plan order; lines
// the plan recorded as invalid (--skip-invalid) are skipped again; one
// SHA-1 given for two artefacts is exit 3 naming both lines.
type trivyJavaDB struct{}

func (trivyJavaDB) Name() string    { return "trivy:java-db" }
func (trivyJavaDB) Version() string { return "1" }

func (trivyJavaDB) Outputs(in *Input) []Output {
	return []Output{{Path: javadb.DBPath, Records: in.Count(evidence.JavaIndex)}, {Path: javadb.MetadataPath, Records: 1}}
}

func (a trivyJavaDB) Run(ctx context.Context, job *Job) error {
	if job.TrivySchema != 0 && job.TrivySchema != javadb.SchemaVersion {
		return exitcode.Invalidf("trivy java db schema %d is not supported (only %d)", job.TrivySchema, javadb.SchemaVersion)
	}
	job.Events.Emit("adapter.start", map[string]any{"adapter": a.Name(), "output": javadb.DBPath, "records": job.Count(evidence.JavaIndex)})
	col := javadb.NewCollector(ctx, filepath.Dir(filepath.Clean(job.Stage.Dir)), job.Stage.budget)
	defer col.Close()
	files := 0
	for d, err := range job.Docs.All() {
		if err != nil {
			return err
		}
		if d.Type != evidence.JavaIndex {
			continue
		}
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		if err := readIndex(job, d, col); err != nil {
			return err
		}
		files++
	}
	entries := col.Len()
	recs, err := col.Records(ctx)
	if err != nil {
		return err
	}
	defer recs.Close()
	st, err := javadb.Write(ctx, job.Stage.Dir, recs.All(), javadb.Metadata(trivyMetadata(job.Input)))
	if err != nil {
		return err
	}
	db, err := job.Stage.Adopt(javadb.DBPath, st.Indices)
	if err != nil {
		return err
	}
	if _, err := job.Stage.Adopt(javadb.MetadataPath, 1); err != nil {
		return err
	}
	job.JavaDB = &manifest.JavaDB{Schema: javadb.SchemaVersion, Files: files, Entries: entries,
		Duplicates: col.Duplicates, Artifacts: st.Artifacts, Indices: st.Indices}
	job.Events.Emit("adapter.complete", map[string]any{"adapter": a.Name(), "output": javadb.DBPath, "records": st.Indices,
		"bytes": db.Size, "sha256": db.SHA256})
	return nil
}

// readIndex adds the valid lines of one index file, checked against its
// planned digest, to col.
func readIndex(job *Job, d *evidence.Doc, col *javadb.Collector) error {
	src, err := job.Open(d)
	if err != nil {
		return err
	}
	defer src.Close()
	var r io.Reader = io.NewSectionReader(src, 0, src.Size)
	err = javadb.ParseIndex(r, d.Path, col.Add, func(*javadb.LineError) error { return nil })
	if err != nil {
		return fmt.Errorf("java index: %w", err)
	}
	return nil
}
