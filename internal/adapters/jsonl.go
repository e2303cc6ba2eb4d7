package adapters

import (
	"context"
	"fmt"
	"io"
	"slices"

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

// zstdConcurrency is the encoder's concurrency. On a stream, any value
// over 1 makes it compress one block while the next is filled; blocks are
// still compressed one after the other, each with the history of the ones
// before, so the output is the same bytes (TestZstdConcurrency checks it).
const zstdConcurrency = 2

// NewZstd returns an encoder whose output depends only on the input and
// the level, never on the machine: CRC on, a frame even for empty input.
func NewZstd(w io.Writer, level int) (*zstd.Encoder, error) {
	return newZstd(w, level, zstdConcurrency)
}

func newZstd(w io.Writer, level, concurrency int) (*zstd.Encoder, error) {
	return zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithEncoderConcurrency(concurrency),
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
	zw, err := NewZstd(f, job.Compression.Level)
	if err != nil {
		f.Abort()
		return err
	}
	records, in := 0, int64(0)
	lastRecords, lastBytes := 0, int64(0)
	nl := []byte{'\n'}
	keep := func(d *evidence.Doc) (bool, bool) {
		// Plan order is by type first: after t's documents there are no more.
		return d.Type == t, d.Type == t || typeIndex(d.Type) < typeIndex(t)
	}
	emit := func(it *item) error {
		if it.src != nil {
			if _, err := canonjson.Raw(zw, it.src, it.src.Size); err != nil {
				return fmt.Errorf("%s: %w", it.doc.Path, err)
			}
		} else if _, err := zw.Write(it.buf.Bytes()); err != nil {
			return err
		}
		if _, err := zw.Write(nl); err != nil {
			return err
		}
		records++
		in += it.doc.Size
		if records-lastRecords >= chunkRecords || in-lastBytes >= 64<<20 {
			job.Events.Emit("adapter.chunk", map[string]any{"adapter": adapter, "output": rel, "records": records, "inputBytes": in})
			lastRecords, lastBytes = records, in
		}
		return nil
	}
	if err := ordered(ctx, job.Docs, keep, job.canonical, emit); err != nil {
		zw.Close()
		f.Abort()
		return err
	}
	if err := zw.Close(); err != nil {
		f.Abort()
		return err
	}
	f.Records = records
	if err := f.Close(); err != nil {
		return err
	}
	st := f.File()
	job.Events.Emit("adapter.complete", map[string]any{"adapter": adapter, "output": rel, "records": records,
		"inputBytes": in, "bytes": st.Size, "sha256": st.SHA256})
	return nil
}

func typeIndex(t evidence.Type) int { return slices.Index(evidence.Types, t) }

// canonical opens the item's document and puts its canonical form (no
// newline) in it.buf, or, for a document too large to read whole, leaves
// it open in it.src for the writer to stream.
func (job *Job) canonical(it *item) error {
	src, err := job.Open(&it.doc)
	if err != nil {
		return err
	}
	if src.Bytes == nil {
		it.src = src
		return nil
	}
	defer src.Close()
	if src.Canonical {
		it.buf.Write(src.Bytes)
		return nil
	}
	it.rd.Reset(src.Bytes)
	it.buf.Grow(len(src.Bytes))
	if _, err := canonjson.Raw(&it.buf, &it.rd, int64(len(src.Bytes))); err != nil {
		return fmt.Errorf("%s: %w", it.doc.Path, err)
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
