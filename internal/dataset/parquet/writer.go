// Package parquet writes and reads the Parquet files of dataset exports
// (kind DatasetExport) through Apache Arrow's Go Parquet implementation
// (github.com/apache/arrow/go/v17, pqarrow).
//
// Writing streams: rows go into Arrow record builders, and every
// Options.RowGroupRows rows (DefaultRowGroupRows, 65,536) or once the
// buffered values pass Options.RowGroupBytes (DefaultRowGroupBytes, 64 MiB),
// whichever comes first, the batch is written as one row group and the
// builders start again. Memory is bounded by one row group, not by the
// table.
//
// The bytes are deterministic: the same rows and options give the same file
// on any machine. The footer's created_by is pinned to CreatedBy, the
// Parquet format version, data page version, page size, dictionary and
// statistics settings are pinned here rather than left to the library's
// defaults, no Arrow schema and no key/value metadata are embedded, and
// nothing depends on the clock or randomness.
//
// Column types map as: string → BYTE_ARRAY (UTF8), int → INT64, float →
// DOUBLE, bool → BOOLEAN, date → INT32 (DATE), timestamp → INT64
// (TIMESTAMP, microseconds, adjusted to UTC; sub-microsecond digits are
// truncated). Required columns are REQUIRED, the others OPTIONAL.
//
// A shell equivalent of what a reader sees, with DuckDB:
//
//	duckdb -c "DESCRIBE SELECT * FROM 'out.parquet'"
package parquet

import (
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	pq "github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/stella-ops/stella-export/internal/dataset/table"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

// CreatedBy is the footer's created_by string. It is pinned so the bytes do
// not change with the library's version string.
const CreatedBy = "stella-export"

// DefaultRowGroupRows is the number of rows buffered before a row group is
// written.
const DefaultRowGroupRows = 64 * 1024

// DefaultRowGroupBytes bounds the buffered value bytes of one row group
// (strings count their length, other values 8 bytes): a table of long
// strings gets smaller row groups rather than more memory.
const DefaultRowGroupBytes = 64 << 20

// Compressions lists the accepted Options.Compression values; the first is
// the default.
var Compressions = []string{"snappy", "zstd", "gzip", "none"}

// Options configure a Writer. The zero value is snappy with the default row
// group bounds.
type Options struct {
	Compression   string // snappy (default when empty), zstd, gzip, none
	RowGroupRows  int    // rows per row group; 0 means DefaultRowGroupRows
	RowGroupBytes int64  // buffered value bytes per row group; 0 means DefaultRowGroupBytes
}

func codec(name string) (compress.Compression, error) {
	switch name {
	case "", "snappy":
		return compress.Codecs.Snappy, nil
	case "zstd":
		return compress.Codecs.Zstd, nil
	case "gzip":
		return compress.Codecs.Gzip, nil
	case "none":
		return compress.Codecs.Uncompressed, nil
	}
	return 0, exitcode.Invalidf("parquet compression %q is not one of snappy, zstd, gzip, none", name)
}

// ArrowSchema returns the Arrow schema a table schema is written with.
func ArrowSchema(s table.Schema) (*arrow.Schema, error) {
	if len(s.Columns) == 0 {
		return nil, exitcode.Invalidf("parquet schema %q: no columns", s.Name)
	}
	seen := make(map[string]bool, len(s.Columns))
	fields := make([]arrow.Field, len(s.Columns))
	for i, c := range s.Columns {
		if c.Name == "" || !utf8.ValidString(c.Name) {
			return nil, exitcode.Invalidf("parquet schema %q: column %d: name %q is empty or not UTF-8", s.Name, i+1, c.Name)
		}
		if seen[c.Name] {
			return nil, exitcode.Invalidf("parquet schema %q: column %q appears twice", s.Name, c.Name)
		}
		seen[c.Name] = true
		var dt arrow.DataType
		switch c.Type {
		case table.String:
			dt = arrow.BinaryTypes.String
		case table.Int:
			dt = arrow.PrimitiveTypes.Int64
		case table.Float:
			dt = arrow.PrimitiveTypes.Float64
		case table.Bool:
			dt = arrow.FixedWidthTypes.Boolean
		case table.Date:
			dt = arrow.FixedWidthTypes.Date32
		case table.Timestamp:
			dt = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
		default:
			return nil, exitcode.Invalidf("parquet schema %q: column %q: type %q is not one of string, int, float, bool, date, timestamp", s.Name, c.Name, c.Type)
		}
		fields[i] = arrow.Field{Name: c.Name, Type: dt, Nullable: !c.Required}
	}
	return arrow.NewSchema(fields, nil), nil
}

// writer is a table.Writer of one Parquet file.
type writer struct {
	schema   table.Schema
	fw       *pqarrow.FileWriter
	b        *array.RecordBuilder
	rows     int   // rows buffered in b
	bytes    int64 // value bytes buffered in b
	maxRows  int
	maxBytes int64
	written  int64 // rows handed to Write so far, for error messages
	closed   bool
	err      error // sticky: the first write error
}

// sink hides Close from the library, so closing the Parquet writer never
// closes the caller's io.Writer.
type sink struct{ w io.Writer }

func (s sink) Write(p []byte) (int, error) { return s.w.Write(p) }

// NewWriter returns a table.Writer that writes rows of s to w as one
// Parquet file. Close writes the last row group and the footer; it does not
// close w.
func NewWriter(w io.Writer, s table.Schema, opt Options) (table.Writer, error) {
	sc, err := ArrowSchema(s)
	if err != nil {
		return nil, err
	}
	c, err := codec(opt.Compression)
	if err != nil {
		return nil, err
	}
	maxRows := opt.RowGroupRows
	if maxRows <= 0 {
		maxRows = DefaultRowGroupRows
	}
	maxBytes := opt.RowGroupBytes
	if maxBytes <= 0 {
		maxBytes = DefaultRowGroupBytes
	}
	mem := memory.NewGoAllocator()
	props := pq.NewWriterProperties(
		pq.WithAllocator(mem),
		pq.WithCreatedBy(CreatedBy),
		pq.WithVersion(pq.V2_6),
		pq.WithDataPageVersion(pq.DataPageV1),
		pq.WithDataPageSize(1<<20),
		pq.WithDictionaryDefault(true),
		pq.WithDictionaryPageSizeLimit(1<<20),
		pq.WithStats(true),
		pq.WithCompression(c),
		pq.WithMaxRowGroupLength(int64(maxRows)),
	)
	fw, err := pqarrow.NewFileWriter(sc, sink{w}, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem)))
	if err != nil {
		return nil, fmt.Errorf("parquet writer: %w", err)
	}
	return &writer{
		schema:   s,
		fw:       fw,
		b:        array.NewRecordBuilder(mem, sc),
		maxRows:  maxRows,
		maxBytes: maxBytes,
	}, nil
}

// Write buffers one row and writes a row group when the buffer is full.
func (w *writer) Write(r table.Row) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return fmt.Errorf("parquet write: writer is closed")
	}
	w.written++
	if len(r) != len(w.schema.Columns) {
		return w.fail(exitcode.Invalidf("parquet write: row %d: %d values for %d columns", w.written, len(r), len(w.schema.Columns)))
	}
	// Check the whole row before appending any value, so a bad row leaves
	// the builders aligned.
	for i, v := range r {
		if err := check(w.schema.Columns[i], v); err != nil {
			return w.fail(exitcode.Invalidf("parquet write: row %d: column %q: %v", w.written, w.schema.Columns[i].Name, err))
		}
	}
	for i, v := range r {
		w.bytes += appendValue(w.b.Field(i), v)
	}
	w.rows++
	if w.rows >= w.maxRows || w.bytes >= w.maxBytes {
		if err := w.flush(); err != nil {
			return w.fail(err)
		}
	}
	return nil
}

func (w *writer) fail(err error) error {
	w.err = err
	return err
}

// flush writes the buffered rows as one row group.
func (w *writer) flush() error {
	if w.rows == 0 {
		return nil
	}
	rec := w.b.NewRecord()
	defer rec.Release()
	w.rows, w.bytes = 0, 0
	if err := w.fw.Write(rec); err != nil {
		return fmt.Errorf("parquet write: row group: %w", err)
	}
	return nil
}

// Close writes the buffered rows and the footer.
func (w *writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	defer w.b.Release()
	if w.err != nil {
		w.fw.Close()
		return w.err
	}
	if err := w.flush(); err != nil {
		w.fw.Close()
		return w.fail(err)
	}
	if err := w.fw.Close(); err != nil {
		return w.fail(fmt.Errorf("parquet write: footer: %w", err))
	}
	return nil
}

// check reports whether v is a valid value of column c.
func check(c table.Column, v any) error {
	if v == nil {
		if c.Required {
			return fmt.Errorf("null in a required column")
		}
		return nil
	}
	ok := false
	switch c.Type {
	case table.String:
		var s string
		s, ok = v.(string)
		if ok && !utf8.ValidString(s) {
			return fmt.Errorf("string is not valid UTF-8")
		}
	case table.Int:
		_, ok = v.(int64)
	case table.Float:
		_, ok = v.(float64)
	case table.Bool:
		_, ok = v.(bool)
	case table.Date, table.Timestamp:
		var t time.Time
		t, ok = v.(time.Time)
		if ok && c.Type == table.Date {
			if d := t.UTC(); d.Hour() != 0 || d.Minute() != 0 || d.Second() != 0 || d.Nanosecond() != 0 {
				return fmt.Errorf("date %s is not midnight UTC", t.Format(time.RFC3339Nano))
			}
		}
		if ok && (t.Year() < -290000 || t.Year() > 290000) {
			return fmt.Errorf("time %s is out of range", t.UTC().Format(time.RFC3339Nano))
		}
	}
	if !ok {
		return fmt.Errorf("value of Go type %T for a %s column", v, c.Type)
	}
	return nil
}

// appendValue appends a checked value and returns its byte estimate.
func appendValue(b array.Builder, v any) int64 {
	if v == nil {
		b.AppendNull()
		return 1
	}
	switch b := b.(type) {
	case *array.StringBuilder:
		s := v.(string)
		b.Append(s)
		return int64(len(s)) + 4
	case *array.Int64Builder:
		b.Append(v.(int64))
	case *array.Float64Builder:
		b.Append(v.(float64))
	case *array.BooleanBuilder:
		b.Append(v.(bool))
	case *array.Date32Builder:
		b.Append(arrow.Date32(floorDiv(v.(time.Time).Unix(), 86400)))
	case *array.TimestampBuilder:
		b.Append(arrow.Timestamp(v.(time.Time).UnixMicro()))
	default:
		panic(fmt.Sprintf("parquet: no append for builder %T", b))
	}
	return 8
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
