package export

import (
	"compress/gzip"
	"fmt"
	"io"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/dataset/csv"
	"github.com/stella-ops/stella-export/internal/dataset/jsonl"
	"github.com/stella-ops/stella-export/internal/dataset/schema"
	"github.com/stella-ops/stella-export/internal/dataset/table"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

// ErrParquetNotBuilt refuses Parquet while internal/dataset/parquet is
// not part of this build. This file is the one place to wire it: its
// NewWriter in newWriter, its NewReader in openParquet.
var ErrParquetNotBuilt = exitcode.Invalidf("format parquet: the Parquet writer and reader (internal/dataset/parquet) are not built into this version yet; use format csv or jsonl")

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
		return nil, ErrParquetNotBuilt
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
// NewReader over the file (safefile.Open, then a size-bounded ReaderAt),
// once it is built.
func openParquet(_ *contract.Contract, _ *schema.Schema) (*Source, error) {
	return nil, ErrParquetNotBuilt
}
