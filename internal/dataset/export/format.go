package export

import (
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/dataset/csv"
	"github.com/stella-ops/stella-export/internal/dataset/jsonl"
	"github.com/stella-ops/stella-export/internal/dataset/parquet"
	"github.com/stella-ops/stella-export/internal/dataset/schema"
	"github.com/stella-ops/stella-export/internal/dataset/table"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// extension is a data file's suffix for format and codec.
func extension(format, codec string) string {
	ext := "." + format
	switch codec {
	case "gzip":
		if format != contract.FormatParquet {
			ext += ".gz"
		}
	case "zstd":
		if format != contract.FormatParquet {
			ext += ".zst"
		}
	}
	return ext
}

// fileWriter is a table.Writer over one data file, with its compressor.
type fileWriter struct {
	table.Writer
	comp io.WriteCloser // nil when not compressed
}

// Close ends the format, then the compression; the underlying file stays
// open.
func (f *fileWriter) Close() error {
	if err := f.Writer.Close(); err != nil {
		return err
	}
	if f.comp != nil {
		return f.comp.Close()
	}
	return nil
}

// newWriter returns the writer of format over w. Compressed output is
// deterministic: gzip without name or time in its header, zstd as the
// JSON profiles write it (adapters.NewZstd).
func newWriter(format string, comp contract.Compression, w io.Writer, s table.Schema) (*fileWriter, error) {
	if format == contract.FormatParquet {
		// Parquet compresses its pages itself (snappy by default).
		pw, err := parquet.NewWriter(w, s, parquet.Options{Compression: comp.Codec})
		if err != nil {
			return nil, err
		}
		return &fileWriter{Writer: pw}, nil
	}
	fw := &fileWriter{}
	switch comp.Codec {
	case "none", "":
	case "gzip":
		gz, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
		if err != nil {
			return nil, err
		}
		fw.comp, w = gz, gz
	case "zstd":
		zw, err := adapters.NewZstd(w, comp.Level)
		if err != nil {
			return nil, err
		}
		fw.comp, w = zw, zw
	default:
		return nil, fmt.Errorf("internal error: codec %q for format %s", comp.Codec, format)
	}
	switch format {
	case contract.FormatCSV:
		cw, err := csv.NewWriter(w, s)
		if err != nil {
			return nil, err
		}
		fw.Writer = cw
	case contract.FormatJSONL:
		fw.Writer = jsonl.NewWriter(w, s)
	default:
		return nil, fmt.Errorf("internal error: format %q", format)
	}
	return fw, nil
}

// openParquet opens a parquet:PATH source: internal/dataset/parquet's
// NewReader over the file, opened without blocking (safefile.Open). A
// Parquet file is read out of order (footer first), so it is hashed in
// one pass before it is read; the digest names the bytes hashed.
func openParquet(c *contract.Contract, s *schema.Schema) (*Source, error) {
	name := c.Dataset.SourcePath
	f, err := safefile.Open(name)
	if err != nil {
		return nil, fmt.Errorf("%s: dataset_ref: %w", c.Where("dataset_ref"), err)
	}
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	r, err := parquet.NewReader(io.NewSectionReader(f, 0, size), size, s.Schema)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &Source{Reader: r, f: f, digest: digest.Of(h).String()}, nil
}
