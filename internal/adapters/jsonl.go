package adapters

import (
	"context"
	"fmt"

	"github.com/klauspost/compress/zstd"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

func init() {
	Register(jsonRaw{})
	Register(jsonPolicy{})
}

// jsonRaw writes data/raw/{advisories,vex,sboms}.jsonl.zst: one document
// per line in canonical form (keys sorted, no whitespace, numbers and every
// value as in the source), ordered by tenant, subject, document id.
type jsonRaw struct{}

func (jsonRaw) Name() string    { return "json:raw" }
func (jsonRaw) Version() string { return "1" }

var rawTypes = []evidence.Type{evidence.Advisory, evidence.VEX, evidence.SBOM}

func rawPath(t evidence.Type) string { return "data/raw/" + typeDir(t) + ".jsonl.zst" }

func (jsonRaw) Outputs(in *Input) []Output {
	var out []Output
	for _, t := range rawTypes {
		out = append(out, Output{Path: rawPath(t), Records: in.Count(t)})
	}
	return out
}

func (a jsonRaw) Run(ctx context.Context, job *Job) error {
	for _, t := range rawTypes {
		if err := writeJSONL(ctx, job, a.Name(), rawPath(t), t); err != nil {
			return err
		}
	}
	return nil
}

// jsonPolicy writes the evaluated findings of the policy snapshot to
// data/policy/findings.jsonl.zst and the snapshot document itself to
// data/policy/snapshot.json (both canonical); the snapshot's metadata also
// goes to export.json.
type jsonPolicy struct{}

func (jsonPolicy) Name() string    { return "json:policy" }
func (jsonPolicy) Version() string { return "1" }

const (
	findingsPath = "data/policy/findings.jsonl.zst"
	snapshotPath = "data/policy/snapshot.json"
)

func (jsonPolicy) Outputs(in *Input) []Output {
	return []Output{{Path: findingsPath, Records: in.Count(evidence.Finding)}, {Path: snapshotPath, Records: 1}}
}

func (a jsonPolicy) Run(ctx context.Context, job *Job) error {
	if job.Snapshot == nil {
		return exitcode.Invalidf("json:policy needs a policy snapshot")
	}
	if err := writeSnapshot(job, snapshotPath); err != nil {
		return err
	}
	return writeJSONL(ctx, job, a.Name(), findingsPath, evidence.Finding)
}

// NewZstd returns an encoder whose output depends only on the input and
// the level: one goroutine, CRC on, a frame even for empty input.
func NewZstd(w interface{ Write([]byte) (int, error) }, level int) (*zstd.Encoder, error) {
	return zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(true),
		zstd.WithZeroFrames(true))
}

const chunkRecords = 10000

func writeJSONL(ctx context.Context, job *Job, adapter, rel string, t evidence.Type) error {
	job.Events.Emit("adapter.start", map[string]any{"adapter": adapter, "output": rel, "records": job.Count(t)})
	f, err := job.Stage.Create(rel)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		f.Abort()
		return err
	}
	zw, err := NewZstd(f, job.Compression.Level)
	if err != nil {
		return fail(err)
	}
	records, in := 0, int64(0)
	lastRecords, lastBytes := 0, int64(0)
	for _, d := range job.Docs {
		if d.Type != t {
			continue
		}
		if err := ctx.Err(); err != nil {
			zw.Close()
			return fail(context.Cause(ctx))
		}
		if err := writeDoc(zw, job, d); err != nil {
			zw.Close()
			return fail(err)
		}
		if _, err := zw.Write([]byte{'\n'}); err != nil {
			return fail(err)
		}
		records++
		in += d.Size
		if records-lastRecords >= chunkRecords || in-lastBytes >= 64<<20 {
			job.Events.Emit("adapter.chunk", map[string]any{"adapter": adapter, "output": rel, "records": records, "inputBytes": in})
			lastRecords, lastBytes = records, in
		}
	}
	if err := zw.Close(); err != nil {
		return fail(err)
	}
	f.Records = records
	if err := f.Close(); err != nil {
		return err
	}
	st, _ := job.Stage.Lookup(rel)
	job.Events.Emit("adapter.complete", map[string]any{"adapter": adapter, "output": rel, "records": records,
		"inputBytes": in, "bytes": st.Size, "sha256": st.SHA256})
	return nil
}

// writeDoc writes the canonical form of one document (no newline).
func writeDoc(w interface{ Write([]byte) (int, error) }, job *Job, d *evidence.Doc) error {
	src, err := job.Open(d)
	if err != nil {
		return err
	}
	defer src.Close()
	if src.Bytes != nil {
		c, err := canonjson.RawBytes(src.Bytes)
		if err != nil {
			return fmt.Errorf("%s: %w", d.Path, err)
		}
		_, err = w.Write(c)
		return err
	}
	if _, err := canonjson.Raw(w, src, src.Size); err != nil {
		return fmt.Errorf("%s: %w", d.Path, err)
	}
	return nil
}

func writeSnapshot(job *Job, rel string) error {
	s := job.Snapshot
	src, err := job.Open(&evidence.Doc{Path: s.Path, SHA256: s.SHA256, Size: s.Size})
	if err != nil {
		return err
	}
	defer src.Close()
	b := src.Bytes
	if b == nil {
		b = make([]byte, src.Size)
		if _, err := src.ReadAt(b, 0); err != nil {
			return err
		}
	}
	c, err := canonjson.RawBytes(b)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Path, err)
	}
	return job.Stage.WriteFile(rel, append(c, '\n'), 1)
}
