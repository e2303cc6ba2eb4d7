// Package parquet writes and reads the Parquet files of dataset exports
// (kind DatasetExport) through Apache Arrow's Go Parquet implementation
// (github.com/apache/arrow/go/v17/parquet), used at its low level (file,
// schema, metadata): not through pqarrow, which links Arrow Flight and
// gRPC into the binary.
//
// Writing streams: rows go into per-column buffers, and every
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
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow/memory"
	pq "github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/metadata"
	"github.com/apache/arrow/go/v17/parquet/schema"

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

// ParquetSchema returns the Parquet schema a table schema is written
// with: a root group holding one primitive column per table
// column, in order, with the types and repetitions in the package doc.
func ParquetSchema(s table.Schema) (*schema.GroupNode, error) {
	if len(s.Columns) == 0 {
		return nil, exitcode.Invalidf("parquet schema %q: no columns", s.Name)
	}
	seen := make(map[string]bool, len(s.Columns))
	fields := make(schema.FieldList, len(s.Columns))
	for i, c := range s.Columns {
		if c.Name == "" || !utf8.ValidString(c.Name) {
			return nil, exitcode.Invalidf("parquet schema %q: column %d: name %q is empty or not UTF-8", s.Name, i+1, c.Name)
		}
		if seen[c.Name] {
			return nil, exitcode.Invalidf("parquet schema %q: column %q appears twice", s.Name, c.Name)
		}
		seen[c.Name] = true
		var (
			typ     pq.Type
			logical schema.LogicalType = schema.NoLogicalType{}
		)
		switch c.Type {
		case table.String:
			typ, logical = pq.Types.ByteArray, schema.StringLogicalType{}
		case table.Int:
			typ, logical = pq.Types.Int64, schema.NewIntLogicalType(64, true)
		case table.Float:
			typ = pq.Types.Double
		case table.Bool:
			typ = pq.Types.Boolean
		case table.Date:
			typ, logical = pq.Types.Int32, schema.DateLogicalType{}
		case table.Timestamp:
			// Forced, as pqarrow does: the converted type TIMESTAMP_MICROS
			// is set too, for readers that know only converted types.
			typ, logical = pq.Types.Int64, schema.NewTimestampLogicalTypeForce(true, schema.TimeUnitMicros)
		default:
			return nil, exitcode.Invalidf("parquet schema %q: column %q: type %q is not one of string, int, float, bool, date, timestamp", s.Name, c.Name, c.Type)
		}
		rep := pq.Repetitions.Optional
		if c.Required {
			rep = pq.Repetitions.Required
		}
		n, err := schema.NewPrimitiveNodeLogical(c.Name, rep, logical, typ, -1, -1)
		if err != nil {
			return nil, exitcode.Invalidf("parquet schema %q: column %q: %v", s.Name, c.Name, err)
		}
		fields[i] = n
	}
	// The root's name and repetition are the library's defaults, which
	// pqarrow used too.
	root, err := schema.NewGroupNode(pq.DefaultRootName, pq.Repetitions.Repeated, fields, -1)
	if err != nil {
		return nil, exitcode.Invalidf("parquet schema %q: %v", s.Name, err)
	}
	return root, nil
}

// column buffers the values of one column for the row group being built,
// in the layout the low-level column writers take: spaced values (a zero
// value in the slot of a null), definition levels and a validity bitmap for
// an optional column, none for a required one.
type column struct {
	typ      table.Type
	optional bool
	defs     []int16
	valid    []byte // validity bitmap, LSB first, for optional columns
	nulls    int
	str      []pq.ByteArray
	i64      []int64
	i32      []int32
	f64      []float64
	bools    []bool
}

// add appends a checked value and returns its byte estimate.
func (c *column) add(v any, n int) int64 {
	if c.optional {
		if n%8 == 0 {
			c.valid = append(c.valid, 0)
		}
		if v == nil {
			c.defs = append(c.defs, 0)
			c.nulls++
		} else {
			c.defs = append(c.defs, 1)
			c.valid[n/8] |= 1 << (n % 8)
		}
	}
	var size int64 = 8
	switch c.typ {
	case table.String:
		// Not nil even when empty: the statistics skip a nil ByteArray,
		// so an empty string would be left out of min and max.
		b := pq.ByteArray{}
		if v != nil {
			s := v.(string)
			if len(s) > 0 {
				// The string is never written to, and the encoders copy
				// what they keep, so its bytes can be handed over without
				// a copy.
				b = unsafe.Slice(unsafe.StringData(s), len(s))
			}
			size = int64(len(s)) + 4
		}
		c.str = append(c.str, b)
	case table.Int:
		var x int64
		if v != nil {
			x = v.(int64)
		}
		c.i64 = append(c.i64, x)
	case table.Float:
		var x float64
		if v != nil {
			x = v.(float64)
		}
		c.f64 = append(c.f64, x)
	case table.Bool:
		var x bool
		if v != nil {
			x = v.(bool)
		}
		c.bools = append(c.bools, x)
	case table.Date:
		var x int32
		if v != nil {
			x = int32(floorDiv(v.(time.Time).Unix(), 86400))
		}
		c.i32 = append(c.i32, x)
	case table.Timestamp:
		var x int64
		if v != nil {
			x = v.(time.Time).UnixMicro()
		}
		c.i64 = append(c.i64, x)
	}
	if v == nil {
		return 1
	}
	return size
}

// write hands the buffered values to cw the way pqarrow did (so the bytes
// stay the same): WriteBatch when the column has no nulls, WriteBatchSpaced
// with the validity bitmap when it has.
func (c *column) write(cw file.ColumnChunkWriter) (err error) {
	spaced := c.nulls > 0
	switch w := cw.(type) {
	case *file.ByteArrayColumnChunkWriter:
		if spaced {
			w.WriteBatchSpaced(c.str, c.defs, nil, c.valid, 0)
		} else {
			_, err = w.WriteBatch(c.str, c.defs, nil)
		}
	case *file.Int64ColumnChunkWriter:
		if spaced {
			w.WriteBatchSpaced(c.i64, c.defs, nil, c.valid, 0)
		} else {
			_, err = w.WriteBatch(c.i64, c.defs, nil)
		}
	case *file.Int32ColumnChunkWriter:
		if spaced {
			w.WriteBatchSpaced(c.i32, c.defs, nil, c.valid, 0)
		} else {
			_, err = w.WriteBatch(c.i32, c.defs, nil)
		}
	case *file.Float64ColumnChunkWriter:
		if spaced {
			w.WriteBatchSpaced(c.f64, c.defs, nil, c.valid, 0)
		} else {
			_, err = w.WriteBatch(c.f64, c.defs, nil)
		}
	case *file.BooleanColumnChunkWriter:
		if spaced {
			w.WriteBatchSpaced(c.bools, c.defs, nil, c.valid, 0)
		} else {
			_, err = w.WriteBatch(c.bools, c.defs, nil)
		}
	default:
		return fmt.Errorf("no column writer for %s", c.typ)
	}
	return err
}

// reset empties the buffers and keeps their capacity.
func (c *column) reset() {
	c.defs, c.valid, c.nulls = c.defs[:0], c.valid[:0], 0
	c.str, c.i64, c.i32, c.f64, c.bools = c.str[:0], c.i64[:0], c.i32[:0], c.f64[:0], c.bools[:0]
	// Let the strings of the written row group go.
	clear(c.str[:cap(c.str)])
}

// writer is a table.Writer of one Parquet file.
type writer struct {
	schema   table.Schema
	out      *sink // the caller's writer, with its first error
	fw       *file.Writer
	cols     []column
	rows     int   // rows buffered in cols
	bytes    int64 // value bytes buffered in cols
	maxRows  int
	maxBytes int64
	written  int64 // rows handed to Write so far, for error messages
	closed   bool
	err      error // sticky: the first write error
}

// sink hides Close from the library, so closing the Parquet writer never
// closes the caller's io.Writer, and keeps the first error of w: the
// library reports some of them only as a panic with a message of its own.
type sink struct {
	w   io.Writer
	err error
}

func (s *sink) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	if err != nil {
		s.err = err
	}
	return n, err
}

// failed returns the sink's error, wrapped, if it has one, and otherwise err.
func (s *sink) failed(what string, err error) error {
	if s.err != nil {
		return fmt.Errorf("%s: %w", what, s.err)
	}
	return err
}

// NewWriter returns a table.Writer that writes rows of s to w as one
// Parquet file. Close writes the last row group and the footer; it does not
// close w.
func NewWriter(w io.Writer, s table.Schema, opt Options) (_ table.Writer, err error) {
	// The file writer writes the magic number as it starts, and panics if
	// the sink fails.
	out := &sink{w: w}
	defer func() {
		if p := recover(); p != nil {
			err = out.failed("parquet write: start", recovered("parquet write: start", p))
		}
	}()
	sc, err := ParquetSchema(s)
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
	props := pq.NewWriterProperties(
		pq.WithAllocator(memory.NewGoAllocator()),
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
	fw := file.NewParquetWriter(out, sc, file.WithWriterProps(props), file.WithWriteMetadata(make(metadata.KeyValueMetadata, 0)))
	cols := make([]column, len(s.Columns))
	for i, col := range s.Columns {
		cols[i] = column{typ: col.Type, optional: !col.Required}
	}
	return &writer{
		schema:   s,
		out:      out,
		fw:       fw,
		cols:     cols,
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
	// the columns aligned.
	for i, v := range r {
		if err := check(w.schema.Columns[i], v); err != nil {
			return w.fail(exitcode.Invalidf("parquet write: row %d: column %q: %v", w.written, w.schema.Columns[i].Name, err))
		}
	}
	for i, v := range r {
		w.bytes += w.cols[i].add(v, w.rows)
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
func (w *writer) flush() (err error) {
	if w.rows == 0 {
		return nil
	}
	// The column writers report some failures (of the sink among them) by
	// panicking.
	defer func() {
		if p := recover(); p != nil {
			err = w.out.failed("parquet write: row group", recovered("parquet write: row group", p))
		}
	}()
	w.rows, w.bytes = 0, 0
	rgw := w.fw.AppendRowGroup()
	for i := range w.cols {
		cw, err := rgw.NextColumn()
		if err != nil {
			return fmt.Errorf("parquet write: row group: %w", err)
		}
		if err := w.cols[i].write(cw); err != nil {
			return fmt.Errorf("parquet write: row group: column %q: %w", w.schema.Columns[i].Name, err)
		}
		w.cols[i].reset()
	}
	if err := rgw.Close(); err != nil {
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
	if w.err != nil {
		return w.err
	}
	if err := w.flush(); err != nil {
		return w.fail(err)
	}
	return w.fail(w.footer())
}

// footer closes the file writer, which writes the footer.
func (w *writer) footer() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = recovered("parquet write: footer", p)
		}
		err = w.out.failed("parquet write: footer", err)
	}()
	if err := w.fw.Close(); err != nil {
		return fmt.Errorf("parquet write: footer: %w", err)
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

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// recovered turns the value of a panic inside arrow's file writer into an
// error that wraps it when it is one (a failing sink's error, say).
func recovered(what string, p any) error {
	if e, ok := p.(error); ok {
		return fmt.Errorf("%s: %w", what, e)
	}
	return fmt.Errorf("%s: %v", what, p)
}
