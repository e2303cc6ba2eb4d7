package parquet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	pq "github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/stella-ops/stella-export/internal/dataset/table"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

// Limits bound what a Parquet source may make the reader hold. A file over
// them is refused (exit 3) before its data is read.
const (
	// MaxFooterBytes bounds the footer (file metadata) of a source.
	MaxFooterBytes = 16 << 20
	// MaxRowGroupBytes bounds one row group's uncompressed size, summed
	// over the columns the schema reads.
	MaxRowGroupBytes = 512 << 20
	// MaxRowGroupRows bounds the rows of one row group.
	MaxRowGroupRows = 32 << 20
	// MaxReaderMemory bounds what the reader allocates for decoding at any
	// one time, whatever the page headers claim.
	MaxReaderMemory = 1 << 30
)

// limits are the bounds one reader applies; tests shrink them.
type limits struct {
	footer, groupBytes, groupRows, memory int64
}

var defaultLimits = limits{MaxFooterBytes, MaxRowGroupBytes, MaxRowGroupRows, MaxReaderMemory}

// errBudget is the panic value of a budget allocator that ran out.
var errBudget = errors.New("decoding needs more than the reader's memory limit")

// budget is a memory.Allocator that panics with errBudget once the bytes it
// has handed out and not had back exceed limit. Arrow has no error path for
// a failed allocation; the reader recovers the panic.
type budget struct {
	mem   memory.Allocator
	used  atomic.Int64
	limit int64
}

func (b *budget) take(n int64) {
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		panic(errBudget)
	}
}

func (b *budget) Allocate(size int) []byte {
	b.take(int64(size))
	return b.mem.Allocate(size)
}

func (b *budget) Reallocate(size int, p []byte) []byte {
	b.take(int64(size) - int64(len(p)))
	return b.mem.Reallocate(size, p)
}

func (b *budget) Free(p []byte) {
	b.used.Add(-int64(len(p)))
	b.mem.Free(p)
}

// malformed turns a recovered panic into an exit-3 error.
func malformed(what string, r any) error {
	if r == errBudget {
		return exitcode.Invalidf("%s: %v", what, errBudget)
	}
	return exitcode.Invalidf("%s: malformed parquet file: %v", what, r)
}

// getter returns row i of an Arrow array as a table value (not nil).
type getter func(arr arrow.Array, i int) (any, error)

// reader is a table.Reader over the row groups of one Parquet file.
type reader struct {
	fr      *pqarrow.FileReader
	lim     limits
	mem     *budget
	schema  table.Schema
	fields  []int    // file field index per schema column
	leaves  []int    // file leaf column index per schema column
	get     []getter // per schema column
	nGroups int
	group   int              // next row group to load
	chunked []*arrow.Chunked // the current row group's columns
	cols    []cursor
	left    int64 // rows left in tbl
	rowNum  int64 // rows returned so far
	row     table.Row
	err     error
}

// cursor walks one column of a row group's table chunk by chunk.
type cursor struct {
	chunks []arrow.Array
	c, i   int
}

func (c *cursor) next() (arrow.Array, int) {
	for c.i >= c.chunks[c.c].Len() {
		c.c++
		c.i = 0
	}
	i := c.i
	c.i++
	return c.chunks[c.c], i
}

// NewReader opens the Parquet file in r (size bytes) and returns a reader
// of its rows in the column order of s. Columns are found by name; columns
// of the file that s does not name are not read. A column of s that the
// file lacks, or holds with a type that does not convert, is an exit-3
// error naming the column. Rows are read one row group at a time; a footer,
// row group or decoding that would pass the limits above is refused, and a
// malformed file gives an exit-3 error rather than a panic.
//
// Conversions: string from UTF8 strings; int from signed and unsigned
// integers that fit int64; float from FLOAT and DOUBLE; bool from BOOLEAN;
// date from DATE (and Arrow date64); timestamp from TIMESTAMP of any unit,
// a timestamp not adjusted to UTC being read as UTC.
func NewReader(r io.ReaderAt, size int64, s table.Schema) (table.Reader, error) {
	return newReader(r, size, s, defaultLimits)
}

func newReader(r io.ReaderAt, size int64, s table.Schema, lim limits) (_ table.Reader, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = malformed("read parquet", p)
		}
	}()
	if len(s.Columns) == 0 {
		return nil, exitcode.Invalidf("read parquet: schema %q has no columns", s.Name)
	}
	if err := checkFooter(r, size, lim.footer); err != nil {
		return nil, err
	}
	mem := &budget{mem: memory.NewGoAllocator(), limit: lim.memory}
	props := pq.NewReaderProperties(mem)
	props.BufferedStreamEnabled = true
	props.BufferSize = 64 << 10
	pr, err := file.NewParquetReader(io.NewSectionReader(r, 0, size), file.WithReadProps(props))
	if err != nil {
		return nil, exitcode.Invalidf("read parquet: %v", err)
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 64 << 10}, mem)
	if err != nil {
		return nil, exitcode.Invalidf("read parquet: %v", err)
	}
	rd := &reader{fr: fr, lim: lim, mem: mem, schema: s, nGroups: pr.NumRowGroups(), row: make(table.Row, len(s.Columns))}
	if err := rd.bind(); err != nil {
		return nil, err
	}
	if err := rd.checkGroups(size); err != nil {
		return nil, err
	}
	return rd, nil
}

// checkFooter refuses a footer over limit bytes before the library
// allocates it.
func checkFooter(r io.ReaderAt, size, limit int64) error {
	if size < 12 {
		return exitcode.Invalidf("read parquet: file of %d bytes is too small to be parquet", size)
	}
	var tail [8]byte
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return fmt.Errorf("read parquet: footer: %w", errors.Join(exitcode.ErrIO, err))
	}
	if string(tail[4:]) != "PAR1" {
		return exitcode.Invalidf("read parquet: not a parquet file (no PAR1 at the end; an encrypted footer is not supported)")
	}
	if n := binary.LittleEndian.Uint32(tail[:4]); int64(n) > limit || int64(n) > size-12 {
		return exitcode.Invalidf("read parquet: footer of %d bytes is larger than the file or the %d-byte limit", n, limit)
	}
	return nil
}

// bind finds each schema column in the file and picks its conversion.
func (rd *reader) bind() error {
	m := rd.fr.Manifest
	byName := make(map[string]int, len(m.Fields))
	for i, f := range m.Fields {
		if _, dup := byName[f.Field.Name]; dup {
			byName[f.Field.Name] = -1
			continue
		}
		byName[f.Field.Name] = i
	}
	want := make(map[string]bool, len(rd.schema.Columns))
	for _, c := range rd.schema.Columns {
		if want[c.Name] {
			return exitcode.Invalidf("read parquet: schema %q names column %q twice", rd.schema.Name, c.Name)
		}
		want[c.Name] = true
		i, ok := byName[c.Name]
		if !ok {
			return exitcode.Invalidf("read parquet: column %q: not in the file", c.Name)
		}
		if i < 0 {
			return exitcode.Invalidf("read parquet: column %q: appears more than once in the file", c.Name)
		}
		f := m.Fields[i]
		if len(f.Children) > 0 || f.ColIndex < 0 {
			return exitcode.Invalidf("read parquet: column %q: nested type %s does not convert to %s", c.Name, f.Field.Type, c.Type)
		}
		g := getterFor(c.Type, f.Field.Type)
		if g == nil {
			return exitcode.Invalidf("read parquet: column %q: type %s does not convert to %s", c.Name, f.Field.Type, c.Type)
		}
		rd.fields = append(rd.fields, i)
		rd.leaves = append(rd.leaves, f.ColIndex)
		rd.get = append(rd.get, g)
	}
	return nil
}

// checkGroups refuses row groups over the limits, from the footer alone.
func (rd *reader) checkGroups(size int64) error {
	md := rd.fr.ParquetReader().MetaData()
	for g := 0; g < rd.nGroups; g++ {
		rg := md.RowGroup(g)
		if n := rg.NumRows(); n < 0 || n > rd.lim.groupRows {
			return exitcode.Invalidf("read parquet: row group %d: %d rows (limit %d)", g, n, rd.lim.groupRows)
		}
		var total int64
		for _, leaf := range rd.leaves {
			cc, err := rg.ColumnChunk(leaf)
			if err != nil {
				return exitcode.Invalidf("read parquet: row group %d: %v", g, err)
			}
			u, c := cc.TotalUncompressedSize(), cc.TotalCompressedSize()
			if u < 0 || c < 0 || c > size || cc.DataPageOffset() < 0 || cc.DataPageOffset() > size {
				return exitcode.Invalidf("read parquet: row group %d: column chunk %d: sizes or offsets outside the file", g, leaf)
			}
			total += u
			if total > rd.lim.groupBytes {
				return exitcode.Invalidf("read parquet: row group %d: more than %d bytes uncompressed (limit)", g, rd.lim.groupBytes)
			}
		}
	}
	return nil
}

// Next returns the next row; the Row is reused by the following call.
func (rd *reader) Next() (_ table.Row, err error) {
	if rd.err != nil {
		return nil, rd.err
	}
	defer func() {
		if p := recover(); p != nil {
			rd.release()
			rd.err = malformed(fmt.Sprintf("read parquet: row group %d", rd.group-1), p)
			err = rd.err
		}
	}()
	for rd.left == 0 {
		rd.release()
		if rd.group >= rd.nGroups {
			return nil, io.EOF
		}
		if err := rd.load(); err != nil {
			rd.err = err
			return nil, err
		}
	}
	rd.left--
	rd.rowNum++
	for j := range rd.cols {
		arr, i := rd.cols[j].next()
		if arr.IsNull(i) {
			rd.row[j] = nil
			continue
		}
		v, err := rd.get[j](arr, i)
		if err != nil {
			rd.err = exitcode.Invalidf("read parquet: row %d: column %q: %v", rd.rowNum, rd.schema.Columns[j].Name, err)
			return nil, rd.err
		}
		rd.row[j] = v
	}
	return rd.row, nil
}

// load reads the next row group's columns into memory. The columns are
// read one after the other on this goroutine (not with the library's
// ReadRowGroups, which decodes on goroutines of its own where a panic on a
// malformed page could not be recovered).
func (rd *reader) load() error {
	g := rd.group
	rd.group++
	rows := rd.fr.ParquetReader().MetaData().RowGroup(g).NumRows()
	rd.cols = make([]cursor, len(rd.fields))
	for j, f := range rd.fields {
		cr, err := rd.fr.GetFieldReader(context.Background(), f, map[int]bool{rd.leaves[j]: true}, []int{g})
		if err != nil {
			return exitcode.Invalidf("read parquet: row group %d: column %q: %v", g, rd.schema.Columns[j].Name, err)
		}
		col, err := cr.NextBatch(rows)
		cr.Release()
		if err != nil {
			return exitcode.Invalidf("read parquet: row group %d: column %q: %v", g, rd.schema.Columns[j].Name, err)
		}
		rd.chunked = append(rd.chunked, col)
		if int64(col.Len()) != rows {
			return exitcode.Invalidf("read parquet: row group %d: column %q has %d values, the footer says %d rows", g, rd.schema.Columns[j].Name, col.Len(), rows)
		}
		rd.cols[j] = cursor{chunks: col.Chunks()}
	}
	rd.left = rows
	return nil
}

func (rd *reader) release() {
	for _, c := range rd.chunked {
		c.Release()
	}
	rd.chunked = nil
	rd.cols = nil
	rd.left = 0
}

// Close releases the current row group. It does not close the io.ReaderAt.
func (rd *reader) Close() error {
	rd.release()
	if rd.err == nil {
		rd.err = errors.New("read parquet: reader is closed")
	}
	return nil
}

// getterFor returns the conversion from Arrow type dt to a value of column
// type t, or nil when there is none.
func getterFor(t table.Type, dt arrow.DataType) getter {
	if d, ok := dt.(*arrow.DictionaryType); ok {
		inner := getterFor(t, d.ValueType)
		if inner == nil {
			return nil
		}
		return func(arr arrow.Array, i int) (any, error) {
			da := arr.(*array.Dictionary)
			return inner(da.Dictionary(), da.GetValueIndex(i))
		}
	}
	switch t {
	case table.String:
		switch dt.ID() {
		case arrow.STRING, arrow.LARGE_STRING:
			return func(arr arrow.Array, i int) (any, error) {
				var s string
				switch a := arr.(type) {
				case *array.String:
					s = a.Value(i)
				case *array.LargeString:
					s = a.Value(i)
				default:
					return nil, fmt.Errorf("unexpected array %T", arr)
				}
				if !utf8.ValidString(s) {
					return nil, fmt.Errorf("string is not valid UTF-8")
				}
				return s, nil
			}
		}
	case table.Int:
		switch dt.ID() {
		case arrow.INT8:
			return func(arr arrow.Array, i int) (any, error) { return int64(arr.(*array.Int8).Value(i)), nil }
		case arrow.INT16:
			return func(arr arrow.Array, i int) (any, error) { return int64(arr.(*array.Int16).Value(i)), nil }
		case arrow.INT32:
			return func(arr arrow.Array, i int) (any, error) { return int64(arr.(*array.Int32).Value(i)), nil }
		case arrow.INT64:
			return func(arr arrow.Array, i int) (any, error) { return arr.(*array.Int64).Value(i), nil }
		case arrow.UINT8:
			return func(arr arrow.Array, i int) (any, error) { return int64(arr.(*array.Uint8).Value(i)), nil }
		case arrow.UINT16:
			return func(arr arrow.Array, i int) (any, error) { return int64(arr.(*array.Uint16).Value(i)), nil }
		case arrow.UINT32:
			return func(arr arrow.Array, i int) (any, error) { return int64(arr.(*array.Uint32).Value(i)), nil }
		case arrow.UINT64:
			return func(arr arrow.Array, i int) (any, error) {
				v := arr.(*array.Uint64).Value(i)
				if v > math.MaxInt64 {
					return nil, fmt.Errorf("%d does not fit a 64-bit signed int", v)
				}
				return int64(v), nil
			}
		}
	case table.Float:
		switch dt.ID() {
		case arrow.FLOAT32:
			return func(arr arrow.Array, i int) (any, error) { return float64(arr.(*array.Float32).Value(i)), nil }
		case arrow.FLOAT64:
			return func(arr arrow.Array, i int) (any, error) { return arr.(*array.Float64).Value(i), nil }
		}
	case table.Bool:
		if dt.ID() == arrow.BOOL {
			return func(arr arrow.Array, i int) (any, error) { return arr.(*array.Boolean).Value(i), nil }
		}
	case table.Date:
		switch dt.ID() {
		case arrow.DATE32:
			return func(arr arrow.Array, i int) (any, error) {
				return time.Unix(int64(arr.(*array.Date32).Value(i))*86400, 0).UTC(), nil
			}
		case arrow.DATE64:
			return func(arr arrow.Array, i int) (any, error) {
				return table.Day(time.UnixMilli(int64(arr.(*array.Date64).Value(i)))), nil
			}
		}
	case table.Timestamp:
		if ts, ok := dt.(*arrow.TimestampType); ok {
			unit := ts.Unit
			return func(arr arrow.Array, i int) (any, error) {
				v := int64(arr.(*array.Timestamp).Value(i))
				switch unit {
				case arrow.Second:
					if v > math.MaxInt64/1_000_000 || v < math.MinInt64/1_000_000 {
						return nil, fmt.Errorf("timestamp %d s is out of range", v)
					}
					return time.Unix(v, 0).UTC(), nil
				case arrow.Millisecond:
					return time.UnixMilli(v).UTC(), nil
				case arrow.Microsecond:
					return time.UnixMicro(v).UTC(), nil
				default:
					return time.Unix(0, v).UTC(), nil
				}
			}
		}
	}
	return nil
}
