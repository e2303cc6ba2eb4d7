package parquet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	pq "github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/schema"

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

// tryTake takes n bytes if they fit under the limit and reports whether
// it did.
func (b *budget) tryTake(n int64) bool {
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		return false
	}
	return true
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

// BatchRows is the most rows the reader decodes of a column at a time.
const BatchRows = 64 << 10

// getter returns the value at index i of a column's decoded batch (the
// i-th non-null value) as a table value (not nil).
type getter func(c *colReader, i int) (any, error)

// colReader decodes one column of the current row group, a batch at a
// time. The values of a batch are compact (nulls take no slot); defs says
// which rows are null.
type colReader struct {
	get      getter
	optional bool // the leaf's max definition level is 1
	cr       file.ColumnChunkReader
	guard    *pageGuard // cr's pages
	defs     []int16
	vi       int // next value of the batch
	nv       int // values in the batch
	ba       []pq.ByteArray
	i32      []int32
	i64      []int64
	i96      []pq.Int96
	f32      []float32
	f64      []float64
	bools    []bool
}

// reader is a table.Reader over the row groups of one Parquet file.
type reader struct {
	pr      *file.Reader
	lim     limits
	mem     *budget
	schema  table.Schema
	leaves  []int // file leaf column index per schema column
	cols    []colReader
	charged int64 // batch buffer bytes taken from mem
	nGroups int
	group   int   // next row group to load
	gLeft   int64 // rows of the current row group not yet decoded
	gRead   int64 // rows of the current row group decoded so far
	n, pos  int   // rows in the current batch, next row of it
	rowNum  int64 // rows returned so far
	row     table.Row
	err     error
}

// NewReader opens the Parquet file in r (size bytes) and returns a reader
// of its rows in the column order of s. Columns are found by name; columns
// of the file that s does not name are not read. A column of s that the
// file lacks, or holds with a type that does not convert, is an exit-3
// error naming the column. Rows are decoded in batches of at most
// BatchRows rows per column; a footer, row group or decoding that would
// pass the limits above is refused, and a malformed file gives an exit-3
// error rather than a panic.
//
// Conversions: string from UTF8 strings; int from signed and unsigned
// integers that fit int64; float from FLOAT and DOUBLE; bool from BOOLEAN;
// date from DATE; timestamp from TIMESTAMP of any unit and from INT96, a
// timestamp not adjusted to UTC being read as UTC. Types are told from the
// Parquet schema alone; an embedded Arrow schema (ARROW:schema) is not
// read, and the type names in errors are the Arrow types pqarrow would
// have read the column as without one.
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
	rd := &reader{pr: pr, lim: lim, mem: mem, schema: s, nGroups: pr.NumRowGroups(), row: make(table.Row, len(s.Columns))}
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
	sc := rd.pr.MetaData().Schema
	root := sc.Root()
	byName := make(map[string]int, root.NumFields())
	for i := 0; i < root.NumFields(); i++ {
		name := root.Field(i).Name()
		if _, dup := byName[name]; dup {
			byName[name] = -1
			continue
		}
		byName[name] = i
	}
	want := make(map[string]bool, len(rd.schema.Columns))
	rd.cols = make([]colReader, len(rd.schema.Columns))
	for j, c := range rd.schema.Columns {
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
		n := root.Field(i)
		pn, ok := n.(*schema.PrimitiveNode)
		if !ok || n.RepetitionType() == pq.Repetitions.Repeated {
			return exitcode.Invalidf("read parquet: column %q: nested type %s does not convert to %s", c.Name, typeName(n), c.Type)
		}
		g := getterFor(c.Type, pn)
		if g == nil {
			return exitcode.Invalidf("read parquet: column %q: type %s does not convert to %s", c.Name, typeName(n), c.Type)
		}
		leaf := sc.ColumnIndexByNode(pn)
		if leaf < 0 {
			return exitcode.Invalidf("read parquet: column %q: not a leaf of the file's schema", c.Name)
		}
		rd.leaves = append(rd.leaves, leaf)
		rd.cols[j] = colReader{get: g, optional: sc.Column(leaf).MaxDefinitionLevel() > 0}
	}
	return nil
}

// checkGroups refuses row groups over the limits, from the footer alone.
func (rd *reader) checkGroups(size int64) error {
	md := rd.pr.MetaData()
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
	for rd.pos == rd.n {
		if rd.gLeft == 0 {
			rd.release()
			if rd.group >= rd.nGroups {
				return nil, io.EOF
			}
			if err := rd.load(); err != nil {
				rd.err = err
				return nil, err
			}
			continue
		}
		if err := rd.decode(); err != nil {
			rd.err = err
			return nil, err
		}
	}
	i := rd.pos
	rd.pos++
	rd.rowNum++
	for j := range rd.cols {
		c := &rd.cols[j]
		if c.optional && c.defs[i] != 1 {
			if c.defs[i] != 0 {
				rd.err = exitcode.Invalidf("read parquet: row %d: column %q: malformed parquet file: definition level %d, want 0 or 1", rd.rowNum, rd.schema.Columns[j].Name, c.defs[i])
				return nil, rd.err
			}
			rd.row[j] = nil
			continue
		}
		if c.vi >= c.nv {
			rd.err = exitcode.Invalidf("read parquet: row %d: column %q: malformed parquet file: fewer values than definition levels say", rd.rowNum, rd.schema.Columns[j].Name)
			return nil, rd.err
		}
		v, err := c.get(c, c.vi)
		c.vi++
		if err != nil {
			rd.err = exitcode.Invalidf("read parquet: row %d: column %q: %v", rd.rowNum, rd.schema.Columns[j].Name, err)
			return nil, rd.err
		}
		rd.row[j] = v
	}
	return rd.row, nil
}

// load opens the next row group's column chunks. The columns are decoded
// on this goroutine, where a panic on a malformed page is recovered.
func (rd *reader) load() error {
	g := rd.group
	rd.group++
	rg := rd.pr.RowGroup(g)
	sc := rd.pr.MetaData().Schema
	for j, leaf := range rd.leaves {
		pages, err := rg.GetColumnPageReader(leaf)
		if err != nil {
			return exitcode.Invalidf("read parquet: row group %d: column %q: %v", g, rd.schema.Columns[j].Name, err)
		}
		descr := sc.Column(leaf)
		guard := &pageGuard{PageReader: pages, descr: descr, mem: rd.mem}
		rd.cols[j].guard = guard
		rd.cols[j].cr = file.NewColumnReader(descr, guard, rd.mem, rd.pr.BufferPool())
	}
	rd.gLeft, rd.gRead = rg.NumRows(), 0
	rd.n, rd.pos = 0, 0
	return nil
}

// decode reads the next batch of every column of the current row group.
func (rd *reader) decode() error {
	g := rd.group - 1
	want := rd.gLeft
	if want > BatchRows {
		want = BatchRows
	}
	rd.grow(int(want))
	for j := range rd.cols {
		c := &rd.cols[j]
		got, err := c.read(want)
		if err == nil && got < want {
			err = c.cr.Err()
		}
		if err != nil {
			return exitcode.Invalidf("read parquet: row group %d: column %q: %v", g, rd.schema.Columns[j].Name, err)
		}
		if got != want {
			return exitcode.Invalidf("read parquet: row group %d: column %q has %d values, the footer says %d rows", g, rd.schema.Columns[j].Name, rd.gRead+got, rd.gRead+rd.gLeft)
		}
		c.vi = 0
	}
	rd.gLeft -= want
	rd.gRead += want
	rd.n, rd.pos = int(want), 0
	return nil
}

// grow makes every column's batch buffers hold n rows, taking their bytes
// from the memory budget.
func (rd *reader) grow(n int) {
	if len(rd.cols) == 0 || cap(rd.cols[0].defs) >= n {
		return
	}
	var bytes int64
	for j := range rd.cols {
		bytes += rd.cols[j].alloc(n)
	}
	rd.mem.take(bytes - rd.charged)
	rd.charged = bytes
}

// alloc sizes the buffers of c's physical type for n rows and returns
// their bytes: a definition level and one decoded value (valueBytes) a row.
func (c *colReader) alloc(n int) int64 {
	c.defs = make([]int16, n)
	switch c.cr.(type) {
	case *file.ByteArrayColumnChunkReader:
		c.ba = make([]pq.ByteArray, n)
	case *file.Int32ColumnChunkReader:
		c.i32 = make([]int32, n)
	case *file.Int64ColumnChunkReader:
		c.i64 = make([]int64, n)
	case *file.Int96ColumnChunkReader:
		c.i96 = make([]pq.Int96, n)
	case *file.Float32ColumnChunkReader:
		c.f32 = make([]float32, n)
	case *file.Float64ColumnChunkReader:
		c.f64 = make([]float64, n)
	case *file.BooleanColumnChunkReader:
		c.bools = make([]bool, n)
	}
	return int64(n) * (2 + valueBytes(c.cr.Type()))
}

// read decodes up to n rows of c and returns how many it got.
//
// A ByteArray value points into the page it was decoded from. It stays
// valid for the batch, across pages, because every page is decoded into a
// buffer of its own and the Go allocator behind the budget never hands
// freed memory out again; Next copies it into a string.
func (c *colReader) read(n int64) (int64, error) {
	var defs []int16
	if c.optional {
		defs = c.defs[:n]
	}
	var (
		total int64
		err   error
	)
	switch r := c.cr.(type) {
	case *file.ByteArrayColumnChunkReader:
		total, c.nv, err = r.ReadBatch(n, c.ba[:n], defs, nil)
	case *file.Int32ColumnChunkReader:
		total, c.nv, err = r.ReadBatch(n, c.i32[:n], defs, nil)
	case *file.Int64ColumnChunkReader:
		total, c.nv, err = r.ReadBatch(n, c.i64[:n], defs, nil)
	case *file.Int96ColumnChunkReader:
		total, c.nv, err = r.ReadBatch(n, c.i96[:n], defs, nil)
	case *file.Float32ColumnChunkReader:
		total, c.nv, err = r.ReadBatch(n, c.f32[:n], defs, nil)
	case *file.Float64ColumnChunkReader:
		total, c.nv, err = r.ReadBatch(n, c.f64[:n], defs, nil)
	case *file.BooleanColumnChunkReader:
		total, c.nv, err = r.ReadBatch(n, c.bools[:n], defs, nil)
	default:
		return 0, fmt.Errorf("no reader for physical type %s", c.cr.Type())
	}
	return total, err
}

func (rd *reader) release() {
	for j := range rd.cols {
		rd.cols[j].cr = nil
		if g := rd.cols[j].guard; g != nil {
			rd.mem.take(-g.charged)
			rd.cols[j].guard = nil
		}
	}
	rd.n, rd.pos, rd.gLeft = 0, 0, 0
}

// Close releases the current row group. It does not close the io.ReaderAt.
func (rd *reader) Close() error {
	rd.release()
	for j := range rd.cols {
		c := &rd.cols[j]
		c.defs, c.ba, c.i32, c.i64, c.i96, c.f32, c.f64, c.bools = nil, nil, nil, nil, nil, nil, nil, nil
	}
	rd.mem.take(-rd.charged)
	rd.charged = 0
	if rd.err == nil {
		rd.err = errors.New("read parquet: reader is closed")
	}
	return nil
}

// intOf returns the integer conversion of an INT32 or INT64 column that
// holds integers: with no annotation or an INTEGER annotation, narrowed to
// the annotated width and signedness as pqarrow did.
func intOf(n *schema.PrimitiveNode) (bits int, signed, ok bool) {
	phys := n.PhysicalType()
	if phys != pq.Types.Int32 && phys != pq.Types.Int64 {
		return 0, false, false
	}
	switch lt := n.LogicalType().(type) {
	case schema.NoLogicalType:
		if phys == pq.Types.Int32 {
			return 32, true, true
		}
		return 64, true, true
	case *schema.IntLogicalType:
		switch lt.BitWidth() {
		case 8, 16, 32, 64:
			return int(lt.BitWidth()), lt.IsSigned(), true
		}
	}
	return 0, false, false
}

// getterFor returns the conversion from the file's column n to a value of
// column type t, or nil when there is none.
func getterFor(t table.Type, n *schema.PrimitiveNode) getter {
	phys, logical := n.PhysicalType(), n.LogicalType()
	switch t {
	case table.String:
		if phys == pq.Types.ByteArray && logical.Equals(schema.StringLogicalType{}) {
			return func(c *colReader, i int) (any, error) {
				b := c.ba[i]
				if !utf8.Valid(b) {
					return nil, fmt.Errorf("string is not valid UTF-8")
				}
				return string(b), nil
			}
		}
	case table.Int:
		bits, signed, ok := intOf(n)
		if !ok {
			return nil
		}
		raw := func(c *colReader, i int) int64 { return c.i64[i] }
		if phys == pq.Types.Int32 {
			raw = func(c *colReader, i int) int64 { return int64(c.i32[i]) }
		}
		switch {
		case bits == 8 && signed:
			return func(c *colReader, i int) (any, error) { return int64(int8(raw(c, i))), nil }
		case bits == 16 && signed:
			return func(c *colReader, i int) (any, error) { return int64(int16(raw(c, i))), nil }
		case bits == 32 && signed:
			return func(c *colReader, i int) (any, error) { return int64(int32(raw(c, i))), nil }
		case bits == 64 && signed:
			return func(c *colReader, i int) (any, error) { return raw(c, i), nil }
		case bits == 8:
			return func(c *colReader, i int) (any, error) { return int64(uint8(raw(c, i))), nil }
		case bits == 16:
			return func(c *colReader, i int) (any, error) { return int64(uint16(raw(c, i))), nil }
		case bits == 32:
			return func(c *colReader, i int) (any, error) { return int64(uint32(raw(c, i))), nil }
		default:
			return func(c *colReader, i int) (any, error) {
				v := uint64(raw(c, i))
				if v > math.MaxInt64 {
					return nil, fmt.Errorf("%d does not fit a 64-bit signed int", v)
				}
				return int64(v), nil
			}
		}
	case table.Float:
		if !logical.IsNone() {
			return nil
		}
		switch phys {
		case pq.Types.Float:
			return func(c *colReader, i int) (any, error) { return float64(c.f32[i]), nil }
		case pq.Types.Double:
			return func(c *colReader, i int) (any, error) { return c.f64[i], nil }
		}
	case table.Bool:
		if phys == pq.Types.Boolean && logical.IsNone() {
			return func(c *colReader, i int) (any, error) { return c.bools[i], nil }
		}
	case table.Date:
		if phys == pq.Types.Int32 && logical.Equals(schema.DateLogicalType{}) {
			return func(c *colReader, i int) (any, error) {
				return time.Unix(int64(c.i32[i])*86400, 0).UTC(), nil
			}
		}
	case table.Timestamp:
		if phys == pq.Types.Int96 && logical.IsValid() && !logical.Equals(schema.NullLogicalType{}) {
			return func(c *colReader, i int) (any, error) {
				v := c.i96[i]
				if binary.LittleEndian.Uint32(v[8:]) == 0 {
					// Julian day 0 reads as the epoch, as in pqarrow.
					return time.Unix(0, 0).UTC(), nil
				}
				return time.Unix(0, v.ToTime().UnixNano()).UTC(), nil
			}
		}
		ts, ok := logical.(*schema.TimestampLogicalType)
		if phys != pq.Types.Int64 || !ok {
			return nil
		}
		switch ts.TimeUnit() {
		case schema.TimeUnitMillis:
			return func(c *colReader, i int) (any, error) { return time.UnixMilli(c.i64[i]).UTC(), nil }
		case schema.TimeUnitMicros:
			return func(c *colReader, i int) (any, error) { return time.UnixMicro(c.i64[i]).UTC(), nil }
		case schema.TimeUnitNanos:
			return func(c *colReader, i int) (any, error) { return time.Unix(0, c.i64[i]).UTC(), nil }
		}
	}
	return nil
}

// typeName names the type of a field of the file in errors: the Arrow type
// pqarrow reads it as, or its Parquet types when there is none.
func typeName(n schema.Node) string {
	if dt := arrowType(n); dt != nil {
		return dt.String()
	}
	if p, ok := n.(*schema.PrimitiveNode); ok {
		return fmt.Sprintf("%s (%s)", p.PhysicalType(), p.LogicalType())
	}
	return "group " + n.Name()
}

// arrowType is the Arrow type pqarrow reads field n as, or nil.
func arrowType(n schema.Node) arrow.DataType {
	if n.RepetitionType() == pq.Repetitions.Repeated {
		// A repeated field outside a LIST group is a list of its
		// element type.
		elem := elemType(n)
		if elem == nil {
			return nil
		}
		return arrow.ListOfField(arrow.Field{Name: n.Name(), Type: elem, Nullable: false})
	}
	return elemType(n)
}

// elemType is the Arrow type of n, its repetition aside.
func elemType(n schema.Node) arrow.DataType {
	switch n := n.(type) {
	case *schema.PrimitiveNode:
		return primitiveType(n)
	case *schema.GroupNode:
		lt := n.LogicalType()
		switch {
		case lt.Equals(schema.ListLogicalType{}) || n.ConvertedType() == schema.ConvertedTypes.List:
			if n.NumFields() != 1 || n.Field(0).RepetitionType() != pq.Repetitions.Repeated {
				return nil
			}
			ln := n.Field(0)
			var elem arrow.DataType
			if lg, ok := ln.(*schema.GroupNode); ok {
				if lg.NumFields() == 1 && lg.Name() != "array" && lg.Name() != n.Name()+"_tuple" {
					elem = arrowType(lg.Field(0))
				} else {
					elem = structType(lg)
				}
			} else {
				elem = elemType(ln)
			}
			if elem == nil {
				return nil
			}
			return arrow.ListOfField(arrow.Field{Name: ln.Name(), Type: elem, Nullable: true})
		case lt.Equals(schema.MapLogicalType{}) || n.ConvertedType() == schema.ConvertedTypes.Map || n.ConvertedType() == schema.ConvertedTypes.MapKeyValue:
			if n.NumFields() != 1 {
				return nil
			}
			kv, ok := n.Field(0).(*schema.GroupNode)
			if !ok || kv.NumFields() != 2 {
				return nil
			}
			k, v := arrowType(kv.Field(0)), arrowType(kv.Field(1))
			if k == nil || v == nil {
				return nil
			}
			return arrow.MapOf(k, v)
		}
		return structType(n)
	}
	return nil
}

func structType(n *schema.GroupNode) arrow.DataType {
	fields := make([]arrow.Field, n.NumFields())
	for i := range fields {
		f := n.Field(i)
		dt := arrowType(f)
		if dt == nil {
			return nil
		}
		fields[i] = arrow.Field{Name: f.Name(), Type: dt, Nullable: f.RepetitionType() == pq.Repetitions.Optional}
	}
	return arrow.StructOf(fields...)
}

// primitiveType follows pqarrow's mapping of Parquet physical and logical
// types to Arrow types.
func primitiveType(n *schema.PrimitiveNode) arrow.DataType {
	logical := n.LogicalType()
	if !logical.IsValid() || logical.Equals(schema.NullLogicalType{}) {
		return arrow.Null
	}
	intType := func(lt *schema.IntLogicalType) arrow.DataType {
		switch {
		case lt.BitWidth() == 8 && lt.IsSigned():
			return arrow.PrimitiveTypes.Int8
		case lt.BitWidth() == 8:
			return arrow.PrimitiveTypes.Uint8
		case lt.BitWidth() == 16 && lt.IsSigned():
			return arrow.PrimitiveTypes.Int16
		case lt.BitWidth() == 16:
			return arrow.PrimitiveTypes.Uint16
		case lt.BitWidth() == 32 && lt.IsSigned():
			return arrow.PrimitiveTypes.Int32
		case lt.BitWidth() == 32:
			return arrow.PrimitiveTypes.Uint32
		case lt.BitWidth() == 64 && lt.IsSigned():
			return arrow.PrimitiveTypes.Int64
		case lt.BitWidth() == 64:
			return arrow.PrimitiveTypes.Uint64
		}
		return nil
	}
	decimal := func(lt *schema.DecimalLogicalType) arrow.DataType {
		if lt.Precision() <= 38 {
			return &arrow.Decimal128Type{Precision: lt.Precision(), Scale: lt.Scale()}
		}
		return &arrow.Decimal256Type{Precision: lt.Precision(), Scale: lt.Scale()}
	}
	switch n.PhysicalType() {
	case pq.Types.Boolean:
		return arrow.FixedWidthTypes.Boolean
	case pq.Types.Int32:
		switch lt := logical.(type) {
		case schema.NoLogicalType:
			return arrow.PrimitiveTypes.Int32
		case *schema.TimeLogicalType:
			if lt.TimeUnit() == schema.TimeUnitMillis {
				return arrow.FixedWidthTypes.Time32ms
			}
		case *schema.DecimalLogicalType:
			return decimal(lt)
		case *schema.IntLogicalType:
			return intType(lt)
		case schema.DateLogicalType:
			return arrow.FixedWidthTypes.Date32
		}
	case pq.Types.Int64:
		switch lt := logical.(type) {
		case schema.NoLogicalType:
			return arrow.PrimitiveTypes.Int64
		case *schema.IntLogicalType:
			return intType(lt)
		case *schema.DecimalLogicalType:
			return decimal(lt)
		case *schema.TimeLogicalType:
			switch lt.TimeUnit() {
			case schema.TimeUnitMicros:
				return arrow.FixedWidthTypes.Time64us
			case schema.TimeUnitNanos:
				return arrow.FixedWidthTypes.Time64ns
			}
		case *schema.TimestampLogicalType:
			tz := ""
			if lt.IsAdjustedToUTC() || lt.IsFromConvertedType() {
				tz = "UTC"
			}
			switch lt.TimeUnit() {
			case schema.TimeUnitMillis:
				return &arrow.TimestampType{TimeZone: tz, Unit: arrow.Millisecond}
			case schema.TimeUnitMicros:
				return &arrow.TimestampType{TimeZone: tz, Unit: arrow.Microsecond}
			case schema.TimeUnitNanos:
				return &arrow.TimestampType{TimeZone: tz, Unit: arrow.Nanosecond}
			}
		}
	case pq.Types.Int96:
		return arrow.FixedWidthTypes.Timestamp_ns
	case pq.Types.Float:
		return arrow.PrimitiveTypes.Float32
	case pq.Types.Double:
		return arrow.PrimitiveTypes.Float64
	case pq.Types.ByteArray:
		switch lt := logical.(type) {
		case schema.StringLogicalType:
			return arrow.BinaryTypes.String
		case *schema.DecimalLogicalType:
			return decimal(lt)
		case schema.NoLogicalType, schema.EnumLogicalType, schema.JSONLogicalType, schema.BSONLogicalType:
			return arrow.BinaryTypes.Binary
		}
	case pq.Types.FixedLenByteArray:
		switch lt := logical.(type) {
		case *schema.DecimalLogicalType:
			return decimal(lt)
		case schema.NoLogicalType, schema.IntervalLogicalType, schema.UUIDLogicalType:
			return &arrow.FixedSizeBinaryType{ByteWidth: n.TypeLength()}
		case schema.Float16LogicalType:
			return &arrow.Float16Type{}
		}
	}
	return nil
}

// Dictionary index encodings of a data page (the Thrift enum values).
const (
	encPlainDictionary = 2
	encRLEDictionary   = 8
)

// pageGuard passes a column chunk's pages to arrow's column reader. It
// refuses a data page whose definition levels run out before its values
// (on which arrow's reader would loop forever; see check), and a
// dictionary-encoded data page whose index bit width would let the
// dictionary decoder allocate more than the reader's memory budget.
// Arrow sizes the slice of decoded dictionary values by the largest index
// a page holds, with make rather than the allocator, before it checks the
// index against the dictionary: one crafted index near 2^31 asks the Go
// runtime for tens of gigabytes, and a failed allocation there ends the
// process. An index of a page with bit width w is below 2^w, so the guard
// takes 2^w values' worth of the budget for the chunk (once, for the
// widest page) before the decoder sees the page.
type pageGuard struct {
	file.PageReader
	descr   *schema.Column
	mem     *budget
	charged int64 // taken from mem for this chunk
	err     error
}

func (g *pageGuard) Next() bool {
	if g.err != nil || !g.PageReader.Next() {
		return false
	}
	if err := g.check(g.PageReader.Page()); err != nil {
		g.err = err
		return false
	}
	return true
}

func (g *pageGuard) Err() error {
	if g.err != nil {
		return g.err
	}
	return g.PageReader.Err()
}

// check refuses a data page whose definition levels hold fewer levels than
// the page has values, and takes the budget a dictionary-encoded page's
// indexes may make the decoder allocate. Arrow's column reader loops
// forever on short levels: its level decoder returns no levels and no
// error, and the batch loop, still owed values, asks again. A page too
// short to hold its levels or bit width at all is left to arrow, which
// refuses it.
func (g *pageGuard) check(p file.Page) error {
	if p == nil || g.descr.MaxRepetitionLevel() > 0 {
		return nil // not a page of a column this reader binds
	}
	data := p.Data()
	maxDef := g.descr.MaxDefinitionLevel()
	var off int64 // where the values start
	switch dp := p.(type) {
	case *file.DataPageV1:
		if maxDef > 0 {
			switch dp.DefinitionLevelEncoding() {
			case pq.Encodings.RLE:
				if len(data) < 4 {
					return nil
				}
				// Arrow's decoder reads on past the levels' stated
				// length; so does the count.
				if !hybridHolds(data[4:], bits.Len16(uint16(maxDef)), int64(dp.NumValues())) {
					return shortLevels(dp.NumValues())
				}
				off = 4 + int64(binary.LittleEndian.Uint32(data[:4]))
			case pq.Encodings.BitPacked:
				off = (int64(dp.NumValues())*int64(bits.Len16(uint16(maxDef))) + 7) / 8
			default:
				return nil
			}
		}
	case *file.DataPageV2:
		rep := int64(dp.RepetitionLevelByteLen())
		if maxDef > 0 && rep >= 0 && rep <= int64(len(data)) &&
			!hybridHolds(data[rep:], bits.Len16(uint16(maxDef)), int64(dp.NumValues())) {
			return shortLevels(dp.NumValues())
		}
		off = rep + int64(dp.DefinitionLevelByteLen())
	default:
		return nil
	}
	if e := int32(p.Encoding()); e != encPlainDictionary && e != encRLEDictionary {
		return nil
	}
	if off < 0 || off >= int64(len(data)) {
		return nil
	}
	width := min(int(data[off]), 31) // indexes are int32
	need := (int64(1) << width) * valueBytes(g.descr.PhysicalType())
	if need <= g.charged {
		return nil
	}
	if !g.mem.tryTake(need - g.charged) {
		return exitcode.Invalidf("dictionary indexes of %d bits: decoding needs more than the reader's memory limit", data[off])
	}
	g.charged = need
	return nil
}

func shortLevels(n int32) error {
	return exitcode.Invalidf("malformed parquet file: a data page's definition levels end before its %d values", n)
}

// hybridHolds reports whether b, a run of the RLE/bit-packed hybrid
// encoding of values of width bits, holds at least want values when read
// as arrow's decoder reads it: a run header is a uvarint whose low bit
// says bit-packed (groups of 8 values) or repeated (a count and one value
// in whole bytes); a run of count 0, or a header or value cut short, ends
// the stream; a bit-packed run cut short yields the values whose bits
// are there.
func hybridHolds(b []byte, width int, want int64) bool {
	if width <= 0 {
		return true
	}
	var n int64
	for n < want {
		h, k := binary.Uvarint(b)
		if k <= 0 {
			return false
		}
		b = b[k:]
		count := uint32(h >> 1)
		if h&1 == 1 {
			if count == 0 || count > math.MaxInt32/8 {
				return false
			}
			size := int64(count) * int64(width) // bytes: 8 values a group
			if size > int64(len(b)) {
				return n+int64(len(b))*8/int64(width) >= want
			}
			b = b[size:]
			n += int64(count) * 8
			continue
		}
		if count == 0 || count > math.MaxInt32 {
			return false
		}
		vb := (width + 7) / 8
		if len(b) < vb {
			return false
		}
		b = b[vb:]
		n += int64(count)
	}
	return true
}

// valueBytes is the size of one decoded value of a physical type, in a
// batch buffer or arrow's dictionary (a ByteArray is a slice header).
func valueBytes(t pq.Type) int64 {
	switch t {
	case pq.Types.Boolean:
		return 1
	case pq.Types.Int32, pq.Types.Float:
		return 4
	case pq.Types.Int64, pq.Types.Double:
		return 8
	case pq.Types.Int96:
		return 12
	default:
		return 24
	}
}
