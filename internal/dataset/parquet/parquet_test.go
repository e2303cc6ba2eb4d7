package parquet

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	pq "github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/schema"

	"github.com/stella-ops/stella-export/internal/dataset/table"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/failio"
)

var update = flag.Bool("update", false, "rewrite testdata/golden")

// sampleSchema has every column type, required and optional.
var sampleSchema = table.Schema{
	Name:    "clients",
	Version: "1",
	Columns: []table.Column{
		{Name: "client_id", Type: table.String, Required: true},
		{Name: "age", Type: table.Int},
		{Name: "income", Type: table.Float},
		{Name: "veteran", Type: table.Bool},
		{Name: "entry_date", Type: table.Date, Required: true},
		{Name: "updated_at", Type: table.Timestamp},
	},
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// sampleRows returns n deterministic rows with nulls, negative and extreme
// values, dates before 1970 and non-ASCII strings.
func sampleRows(n int) []table.Row {
	rows := make([]table.Row, n)
	for i := range rows {
		var age, income, vet, upd any
		if i%7 != 3 {
			age = int64(i*37%100) - 5
		}
		if i%5 != 1 {
			income = float64(i)*1234.5 - 10000
		}
		if i%3 != 2 {
			vet = i%2 == 0
		}
		if i%4 != 0 {
			upd = time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * 3727 * time.Microsecond * 1000003)
		}
		rows[i] = table.Row{
			fmt.Sprintf("C%06d-ü", i),
			age, income, vet,
			day(1969, 12, 31).AddDate(0, 0, i*13-400),
			upd,
		}
	}
	if n > 2 {
		rows[1][1] = int64(math.MinInt64)
		rows[2][1] = int64(math.MaxInt64)
		rows[1][2] = math.Inf(-1)
		rows[2][2] = math.Copysign(0, -1)
		rows[1][0] = ""
	}
	return rows
}

func write(t testing.TB, s table.Schema, rows []table.Row, opt Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readAll(t testing.TB, data []byte, s table.Schema) []table.Row {
	t.Helper()
	rows, err := tryReadAll(data, s, defaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func tryReadAll(data []byte, s table.Schema, lim limits) ([]table.Row, error) {
	r, err := newReader(bytes.NewReader(data), int64(len(data)), s, lim)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var rows []table.Row
	for {
		row, err := r.Next()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		rows = append(rows, append(table.Row(nil), row...))
	}
}

func equalRows(t *testing.T, got, want []table.Row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		for j := range want[i] {
			g, w := got[i][j], want[i][j]
			if gt, ok := g.(time.Time); ok {
				if wt, ok := w.(time.Time); !ok || !gt.Equal(wt.Truncate(time.Microsecond)) || gt.Location() != time.UTC {
					t.Fatalf("row %d column %d: got %v, want %v", i, j, g, w)
				}
				continue
			}
			if gf, ok := g.(float64); ok {
				if wf, ok := w.(float64); !ok || math.Float64bits(gf) != math.Float64bits(wf) {
					t.Fatalf("row %d column %d: got %v, want %v", i, j, g, w)
				}
				continue
			}
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("row %d column %d: got %#v, want %#v", i, j, g, w)
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	rows := sampleRows(1000)
	for _, c := range Compressions {
		t.Run(c, func(t *testing.T) {
			data := write(t, sampleSchema, rows, Options{Compression: c, RowGroupRows: 300})
			equalRows(t, readAll(t, data, sampleSchema), rows)
		})
	}
}

func TestEmptyTable(t *testing.T) {
	data := write(t, sampleSchema, nil, Options{})
	if got := readAll(t, data, sampleSchema); len(got) != 0 {
		t.Fatalf("got %d rows from an empty table", len(got))
	}
}

// TestReadSubsetReordered reads columns by name, in the schema's order, and
// skips the file's other columns.
func TestReadSubsetReordered(t *testing.T) {
	rows := sampleRows(50)
	data := write(t, sampleSchema, rows, Options{})
	sub := table.Schema{Name: "sub", Columns: []table.Column{sampleSchema.Columns[4], sampleSchema.Columns[0]}}
	got := readAll(t, data, sub)
	want := make([]table.Row, len(rows))
	for i, r := range rows {
		want[i] = table.Row{r[4], r[0]}
	}
	equalRows(t, got, want)
}

func footer(t *testing.T, data []byte) *file.Reader {
	t.Helper()
	pr, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

// TestFileLayout checks what the footer holds: the pinned created_by, no
// key/value metadata, the physical and logical types, required columns and
// row groups of RowGroupRows rows.
func TestFileLayout(t *testing.T) {
	data := write(t, sampleSchema, sampleRows(1000), Options{RowGroupRows: 300})
	pr := footer(t, data)
	md := pr.MetaData()
	if got := md.GetCreatedBy(); got != CreatedBy {
		t.Errorf("created_by %q, want %q", got, CreatedBy)
	}
	if kv := md.KeyValueMetadata(); kv.Len() != 0 {
		t.Errorf("key/value metadata %v, want none", kv)
	}
	var groups []int64
	for g := 0; g < pr.NumRowGroups(); g++ {
		groups = append(groups, md.RowGroup(g).NumRows())
	}
	if want := []int64{300, 300, 300, 100}; !reflect.DeepEqual(groups, want) {
		t.Errorf("row groups %v, want %v", groups, want)
	}
	want := []string{
		"client_id BYTE_ARRAY String REQUIRED",
		"age INT64 Int(bitWidth=64, isSigned=true) OPTIONAL",
		"income DOUBLE None OPTIONAL",
		"veteran BOOLEAN None OPTIONAL",
		"entry_date INT32 Date REQUIRED",
		"updated_at INT64 Timestamp(isAdjustedToUTC=true, timeUnit=microseconds, is_from_converted_type=false, force_set_converted_type=false) OPTIONAL",
	}
	for i, w := range want {
		c := md.Schema.Column(i)
		got := fmt.Sprintf("%s %s %s %s", c.Name(), c.PhysicalType(), c.LogicalType(), strings.ToUpper(c.SchemaNode().RepetitionType().String()))
		if got != w {
			t.Errorf("column %d: %s, want %s", i, got, w)
		}
	}
}

// TestRowGroupBytes: long strings close a row group before RowGroupRows.
func TestRowGroupBytes(t *testing.T) {
	s := table.Schema{Name: "s", Columns: []table.Column{{Name: "v", Type: table.String, Required: true}}}
	var rows []table.Row
	for i := 0; i < 10; i++ {
		rows = append(rows, table.Row{strings.Repeat("x", 1000)})
	}
	data := write(t, s, rows, Options{RowGroupRows: 100, RowGroupBytes: 3000})
	if n := footer(t, data).NumRowGroups(); n != 4 {
		t.Fatalf("%d row groups, want 4 (3+3+3+1 rows of 1004 bytes under a 3000-byte bound)", n)
	}
	equalRows(t, readAll(t, data, s), rows)
}

// TestDeterministic: two writes of the same rows are byte-identical, and
// the bytes match the digests in testdata/golden (any machine, any run).
func TestDeterministic(t *testing.T) {
	rows := sampleRows(200)
	var lines []string
	for _, c := range Compressions {
		a := write(t, sampleSchema, rows, Options{Compression: c, RowGroupRows: 64})
		b := write(t, sampleSchema, rows, Options{Compression: c, RowGroupRows: 64})
		if !bytes.Equal(a, b) {
			t.Fatalf("%s: two writes differ", c)
		}
		sum := sha256.Sum256(a)
		lines = append(lines, fmt.Sprintf("%s  %s", hex.EncodeToString(sum[:]), c))
	}
	got := strings.Join(lines, "\n") + "\n"
	golden := filepath.Join("testdata", "golden", "sample.sha256")
	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("digests changed (go test ./internal/dataset/parquet -update, and review why):\ngot:\n%swant:\n%s", got, want)
	}
}

// TestWriterDoesNotCloseSink: Close must leave the caller's writer open.
func TestWriterDoesNotCloseSink(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "x.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := NewWriter(f, sampleSchema, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{}); err != nil {
		t.Fatalf("the sink was closed: %v", err)
	}
}

func TestWriterErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    table.Schema
		opt  Options
		row  table.Row
		want string
	}{
		{"codec", sampleSchema, Options{Compression: "lz4"}, nil, `parquet compression "lz4" is not one of snappy, zstd, gzip, none`},
		{"no columns", table.Schema{Name: "e"}, Options{}, nil, `parquet schema "e": no columns`},
		{"duplicate", table.Schema{Name: "d", Columns: []table.Column{{Name: "a", Type: table.Int}, {Name: "a", Type: table.Int}}}, Options{}, nil, `column "a" appears twice`},
		{"type", table.Schema{Name: "t", Columns: []table.Column{{Name: "a", Type: "decimal"}}}, Options{}, nil, `column "a": type "decimal" is not one of`},
		{"arity", sampleSchema, Options{}, table.Row{"x"}, "parquet write: row 1: 1 values for 6 columns"},
		{"null required", sampleSchema, Options{}, table.Row{nil, nil, nil, nil, day(2020, 1, 1), nil}, `parquet write: row 1: column "client_id": null in a required column`},
		{"go type", sampleSchema, Options{}, table.Row{"x", 3, nil, nil, day(2020, 1, 1), nil}, `column "age": value of Go type int for a int column`},
		{"not midnight", sampleSchema, Options{}, table.Row{"x", nil, nil, nil, day(2020, 1, 1).Add(time.Hour), nil}, `column "entry_date": date 2020-01-01T01:00:00Z is not midnight UTC`},
		{"utf8", sampleSchema, Options{}, table.Row{"\xff", nil, nil, nil, day(2020, 1, 1), nil}, `column "client_id": string is not valid UTF-8`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := NewWriter(io.Discard, tc.s, tc.opt)
			if err == nil {
				err = w.Write(tc.row)
				if err2 := w.Close(); err2 != err {
					t.Errorf("Close after a failed Write: %v, want the same error", err2)
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if code := exitcode.For(err); code != exitcode.Invalid {
				t.Fatalf("exit code %d, want %d", code, exitcode.Invalid)
			}
		})
	}
}

// foreign writes a one-row-group file with arrow's low-level writer, with
// the schema nodes another tool (pyarrow, pqarrow) writes for types our
// writer never uses; writes fill the columns, in order.
func foreign(t *testing.T, fields schema.FieldList, writes ...func(cw file.ColumnChunkWriter) error) []byte {
	t.Helper()
	root, err := schema.NewGroupNode("schema", pq.Repetitions.Repeated, fields, -1)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	fw := file.NewParquetWriter(&buf, root)
	rgw := fw.AppendRowGroup()
	for _, write := range writes {
		cw, err := rgw.NextColumn()
		if err != nil {
			t.Fatal(err)
		}
		if err := write(cw); err != nil {
			t.Fatal(err)
		}
	}
	if err := rgw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// node is a primitive schema node for foreign; it fails the test on error.
func node(t *testing.T, name string, rep pq.Repetition, lt schema.LogicalType, typ pq.Type) schema.Node {
	t.Helper()
	n, err := schema.NewPrimitiveNodeLogical(name, rep, lt, typ, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestReadForeignTypes(t *testing.T) {
	req, opt := pq.Repetitions.Required, pq.Repetitions.Optional
	none := schema.NoLogicalType{}
	// INT96 timestamps: Julian day, then nanoseconds of the day.
	int96 := func(ns int64) (v pq.Int96) {
		days := floorDiv(ns, 86400e9)
		binary.LittleEndian.PutUint64(v[:8], uint64(ns-days*86400e9))
		binary.LittleEndian.PutUint32(v[8:], uint32(days+2440588))
		return v
	}
	i96 := []pq.Int96{int96(1700000000123456000), int96(-1000)}
	data := foreign(t, schema.FieldList{
		node(t, "i32", opt, schema.NewIntLogicalType(32, true), pq.Types.Int32),
		node(t, "u32", req, schema.NewIntLogicalType(32, false), pq.Types.Int32),
		node(t, "f32", req, none, pq.Types.Float),
		node(t, "ts_ms", req, schema.NewTimestampLogicalTypeForce(false, schema.TimeUnitMillis), pq.Types.Int64),
		node(t, "ts_s", req, schema.NewTimestampLogicalTypeForce(true, schema.TimeUnitMillis), pq.Types.Int64),
		node(t, "d64", req, schema.DateLogicalType{}, pq.Types.Int32),
		node(t, "dict", req, schema.StringLogicalType{}, pq.Types.ByteArray),
		node(t, "big", req, schema.NewIntLogicalType(64, false), pq.Types.Int64),
		node(t, "i8", req, schema.NewIntLogicalType(8, true), pq.Types.Int32),
		node(t, "u16", req, schema.NewIntLogicalType(16, false), pq.Types.Int32),
		node(t, "ts96", opt, none, pq.Types.Int96),
	},
		func(cw file.ColumnChunkWriter) error {
			_, err := cw.(*file.Int32ColumnChunkWriter).WriteBatch([]int32{-7}, []int16{1, 0}, nil)
			return err
		},
		func(cw file.ColumnChunkWriter) error { // MaxUint32's bits, 1
			_, err := cw.(*file.Int32ColumnChunkWriter).WriteBatch([]int32{-1, 1}, nil, nil)
			return err
		},
		func(cw file.ColumnChunkWriter) error {
			_, err := cw.(*file.Float32ColumnChunkWriter).WriteBatch([]float32{1.5, -2}, nil, nil)
			return err
		},
		func(cw file.ColumnChunkWriter) error {
			_, err := cw.(*file.Int64ColumnChunkWriter).WriteBatch([]int64{1700000000123, -1}, nil, nil)
			return err
		},
		func(cw file.ColumnChunkWriter) error { // seconds, stored as milliseconds
			_, err := cw.(*file.Int64ColumnChunkWriter).WriteBatch([]int64{1700000000000, 0}, nil, nil)
			return err
		},
		func(cw file.ColumnChunkWriter) error {
			_, err := cw.(*file.Int32ColumnChunkWriter).WriteBatch([]int32{3, -1}, nil, nil)
			return err
		},
		func(cw file.ColumnChunkWriter) error {
			_, err := cw.(*file.ByteArrayColumnChunkWriter).WriteBatch([]pq.ByteArray{pq.ByteArray("red"), pq.ByteArray("red")}, nil, nil)
			return err
		},
		func(cw file.ColumnChunkWriter) error { // 1, MaxUint64's bits
			_, err := cw.(*file.Int64ColumnChunkWriter).WriteBatch([]int64{1, -1}, nil, nil)
			return err
		},
		func(cw file.ColumnChunkWriter) error {
			_, err := cw.(*file.Int32ColumnChunkWriter).WriteBatch([]int32{-128, 127}, nil, nil)
			return err
		},
		func(cw file.ColumnChunkWriter) error {
			_, err := cw.(*file.Int32ColumnChunkWriter).WriteBatch([]int32{65535, 0}, nil, nil)
			return err
		},
		func(cw file.ColumnChunkWriter) error {
			_, err := cw.(*file.Int96ColumnChunkWriter).WriteBatch(i96, []int16{1, 1}, nil)
			return err
		},
	)
	s := table.Schema{Name: "f", Columns: []table.Column{
		{Name: "i32", Type: table.Int}, {Name: "u32", Type: table.Int}, {Name: "f32", Type: table.Float},
		{Name: "ts_ms", Type: table.Timestamp}, {Name: "ts_s", Type: table.Timestamp}, {Name: "d64", Type: table.Date},
		{Name: "dict", Type: table.String}, {Name: "i8", Type: table.Int}, {Name: "u16", Type: table.Int},
		{Name: "ts96", Type: table.Timestamp},
	}}
	equalRows(t, readAll(t, data, s), []table.Row{
		{int64(-7), int64(math.MaxUint32), 1.5, time.UnixMilli(1700000000123).UTC(), time.Unix(1700000000, 0).UTC(), day(1970, 1, 4), "red", int64(-128), int64(65535), time.Unix(1700000000, 123456000).UTC()},
		{nil, int64(1), -2.0, time.UnixMilli(-1).UTC(), time.Unix(0, 0).UTC(), day(1969, 12, 31), "red", int64(127), int64(0), time.Unix(0, -1000).UTC()},
	})
	// A uint64 over MaxInt64 is an error naming the row and column.
	_, err := tryReadAll(data, table.Schema{Name: "f", Columns: []table.Column{{Name: "big", Type: table.Int}}}, defaultLimits)
	want := `read parquet: row 2: column "big": 18446744073709551615 does not fit a 64-bit signed int`
	if err == nil || err.Error() != want || exitcode.For(err) != exitcode.Invalid {
		t.Fatalf("error %v, want %q (exit 3)", err, want)
	}
}

func TestReaderErrors(t *testing.T) {
	good := write(t, sampleSchema, sampleRows(100), Options{RowGroupRows: 40})
	// An optional list of optional int64, as pqarrow writes list<int64>.
	list, err := schema.ListOf(node(t, "element", pq.Repetitions.Optional, schema.NoLogicalType{}, pq.Types.Int64), pq.Repetitions.Optional, -1)
	if err != nil {
		t.Fatal(err)
	}
	list, err = schema.NewGroupNodeLogical("l", pq.Repetitions.Optional, schema.FieldList{list.Field(0)}, schema.ListLogicalType{}, -1)
	if err != nil {
		t.Fatal(err)
	}
	nested := foreign(t, schema.FieldList{list}, func(cw file.ColumnChunkWriter) error {
		_, err := cw.(*file.Int64ColumnChunkWriter).WriteBatch([]int64{1}, []int16{3}, []int16{0})
		return err
	})
	tooBigFooter := bytes.Clone(good)
	copy(tooBigFooter[len(tooBigFooter)-8:], []byte{0xff, 0xff, 0xff, 0x7f})
	col := func(name string, ty table.Type) table.Schema {
		return table.Schema{Name: "x", Columns: []table.Column{{Name: name, Type: ty}}}
	}
	small := defaultLimits
	small.groupBytes = 100
	fewRows := defaultLimits
	fewRows.groupRows = 39
	tinyMem := defaultLimits
	tinyMem.memory = 1000
	for _, tc := range []struct {
		name string
		data []byte
		s    table.Schema
		lim  limits
		want string
	}{
		{"missing column", good, col("ssn", table.String), defaultLimits, `read parquet: column "ssn": not in the file`},
		{"incompatible", good, col("client_id", table.Int), defaultLimits, `read parquet: column "client_id": type utf8 does not convert to int`},
		{"date from timestamp", good, col("updated_at", table.Date), defaultLimits, `column "updated_at": type timestamp[us, tz=UTC] does not convert to date`},
		{"nested", nested, col("l", table.Int), defaultLimits, `read parquet: column "l": nested type list<list: int64, nullable> does not convert to int`},
		{"not parquet", []byte("client_id,age\nC1,3\n"), sampleSchema, defaultLimits, "read parquet: not a parquet file"},
		{"tiny", []byte("PAR1"), sampleSchema, defaultLimits, "read parquet: file of 4 bytes is too small to be parquet"},
		{"footer size", tooBigFooter, sampleSchema, defaultLimits, "read parquet: footer of 2147483647 bytes is larger than the file"},
		{"truncated", good[len(good)/2:], sampleSchema, defaultLimits, "read parquet: "},
		{"row group bytes", good, sampleSchema, small, "read parquet: row group 0: more than 100 bytes uncompressed (limit)"},
		{"row group rows", good, sampleSchema, fewRows, "read parquet: row group 0: 40 rows (limit 39)"},
		{"memory", good, sampleSchema, tinyMem, "decoding needs more than the reader's memory limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tryReadAll(tc.data, tc.s, tc.lim)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if code := exitcode.For(err); code != exitcode.Invalid {
				t.Fatalf("exit code %d, want %d (%v)", code, exitcode.Invalid, err)
			}
		})
	}
}

// TestReaderNeverPanics flips bytes all over a valid file: every outcome is
// rows or an exit-3 error, never a panic (the fuzz target goes further).
func TestReaderNeverPanics(t *testing.T) {
	good := write(t, sampleSchema, sampleRows(60), Options{RowGroupRows: 25})
	malformed := 0
	for i := 0; i < len(good); i += 5 {
		for _, x := range []byte{0xff, 0x01} {
			data := bytes.Clone(good)
			data[i] ^= x
			if err := checkHostile(t, data); err != nil && strings.Contains(err.Error(), "malformed parquet file") {
				malformed++
			}
		}
	}
	// The library panics on some of these; the reader turned each panic
	// into an error.
	if malformed == 0 {
		t.Errorf("no flipped byte made the library panic; the test no longer covers the recover")
	}
}

func checkHostile(t *testing.T, data []byte) error {
	t.Helper()
	_, err := tryReadAll(data, sampleSchema, limits{footer: 1 << 20, groupBytes: 8 << 20, groupRows: 1 << 16, memory: 64 << 20})
	if err != nil && exitcode.For(err) != exitcode.Invalid && !errors.Is(err, exitcode.ErrIO) {
		t.Fatalf("error %v: exit code %d, want 3", err, exitcode.For(err))
	}
	return err
}

func FuzzReader(f *testing.F) {
	f.Add(write(f, sampleSchema, sampleRows(20), Options{RowGroupRows: 8}))
	f.Add(write(f, sampleSchema, sampleRows(20), Options{Compression: "zstd"}))
	f.Add(write(f, sampleSchema, sampleRows(20), Options{Compression: "gzip"}))
	f.Add(write(f, sampleSchema, sampleRows(5), Options{Compression: "none"}))
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkHostile(t, data)
	})
}

// BenchmarkWriter: rows per second through the writer (snappy), and bytes
// allocated per row; memory stays one row group whatever b.N.
func BenchmarkWriter(b *testing.B) {
	rows := sampleRows(4096)
	w, err := NewWriter(io.Discard, sampleSchema, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := w.Write(rows[i%len(rows)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

// TestReaderStreamsBatches: a row group of more than BatchRows rows is
// read in batches, across the batch boundaries, within a 16 MiB memory
// limit, which also pays for each column's dictionary allowance (pageGuard):
// less than half of what the whole row group decodes to, which the pqarrow
// reader held.
func TestReaderStreamsBatches(t *testing.T) {
	rows := sampleRows(8*BatchRows + 123)
	data := write(t, sampleSchema, rows, Options{RowGroupRows: len(rows)})
	if n := footer(t, data).NumRowGroups(); n != 1 {
		t.Fatalf("%d row groups, want 1", n)
	}
	lim := defaultLimits
	lim.memory = 16 << 20
	got, err := tryReadAll(data, sampleSchema, lim)
	if err != nil {
		t.Fatal(err)
	}
	equalRows(t, got, rows)
}

// TestNoGRPC: the binary links neither pqarrow nor what it brings (Arrow
// Flight, gRPC), which made it 66 MB and every command start at 47 MiB.
func TestNoGRPC(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(gobin, "list", "-deps", "github.com/stella-ops/stella-export/cmd/stella-export").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "google.golang.org/grpc") || strings.Contains(p, "/arrow/flight") || strings.HasSuffix(p, "/parquet/pqarrow") {
			t.Errorf("cmd/stella-export depends on %s", p)
		}
	}
}

// TestReaderBadDefinitionLevel: an optional column whose definition levels
// say 2 (an RLE run can hold any byte) is an exit-3 error, not a row with
// a made-up value.
func TestReaderBadDefinitionLevel(t *testing.T) {
	defs := make([]int16, 16)
	for i := range defs {
		defs[i] = 2
	}
	data := foreign(t, schema.FieldList{node(t, "v", pq.Repetitions.Optional, schema.NoLogicalType{}, pq.Types.Int64)},
		func(cw file.ColumnChunkWriter) error {
			_, err := cw.(*file.Int64ColumnChunkWriter).WriteBatch(nil, defs, nil)
			return err
		})
	_, err := tryReadAll(data, table.Schema{Name: "x", Columns: []table.Column{{Name: "v", Type: table.Int}}}, defaultLimits)
	want := `read parquet: row 1: column "v": malformed parquet file: definition level 2, want 0 or 1`
	if err == nil || err.Error() != want || exitcode.For(err) != exitcode.Invalid {
		t.Fatalf("error %v, want %q (exit 3)", err, want)
	}
}

var errSink = errors.New("disk full")

// TestWriterSinkError: a sink that fails makes Write or Close return an
// error that wraps the sink's, never a panic or a silent short file.
func TestWriterSinkError(t *testing.T) {
	for _, n := range []int{0, 100, 2000} {
		w, err := NewWriter(&failio.Writer{After: n, Err: errSink}, sampleSchema, Options{Compression: "none", RowGroupRows: 50})
		if err != nil {
			if !errors.Is(err, errSink) {
				t.Errorf("sink failing after %d bytes: NewWriter: %v, want an error wrapping %v", n, err, errSink)
			}
			continue
		}
		for _, r := range sampleRows(200) {
			if err = w.Write(r); err != nil {
				break
			}
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if !errors.Is(err, errSink) {
			t.Errorf("sink failing after %d bytes: error %v, want one wrapping %v", n, err, errSink)
		}
	}
}

// TestReadDictionaryPages: a dictionary-encoded string column, required
// and optional, in data pages v1 and v2, reads back as written, and the
// page guard finds each page's index bit width after its levels: 700
// distinct values take 10 bits, an allowance of 2^10 values of 24 bytes.
func TestReadDictionaryPages(t *testing.T) {
	for _, v := range []pq.DataPageVersion{pq.DataPageV1, pq.DataPageV2} {
		for _, rep := range []pq.Repetition{pq.Repetitions.Required, pq.Repetitions.Optional} {
			name := fmt.Sprintf("v%d/%s", v+1, rep)
			root, err := schema.NewGroupNode("schema", pq.Repetitions.Repeated,
				schema.FieldList{node(t, "s", rep, schema.StringLogicalType{}, pq.Types.ByteArray)}, -1)
			if err != nil {
				t.Fatal(err)
			}
			var (
				want []table.Row
				vals []pq.ByteArray
				defs []int16
			)
			for i := range 5000 {
				if rep == pq.Repetitions.Optional && i%9 == 4 {
					want = append(want, table.Row{nil})
					defs = append(defs, 0)
					continue
				}
				s := fmt.Sprintf("v%03d", i%700)
				want = append(want, table.Row{s})
				vals = append(vals, pq.ByteArray(s))
				defs = append(defs, 1)
			}
			if rep == pq.Repetitions.Required {
				defs = nil
			}
			var buf bytes.Buffer
			props := pq.NewWriterProperties(pq.WithDataPageVersion(v), pq.WithDictionaryDefault(true), pq.WithDataPageSize(4<<10))
			fw := file.NewParquetWriter(&buf, root, file.WithWriterProps(props))
			rgw := fw.AppendRowGroup()
			cw, err := rgw.NextColumn()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cw.(*file.ByteArrayColumnChunkWriter).WriteBatch(vals, defs, nil); err != nil {
				t.Fatal(err)
			}
			if err := rgw.Close(); err != nil {
				t.Fatal(err)
			}
			if err := fw.Close(); err != nil {
				t.Fatal(err)
			}
			s := table.Schema{Name: "x", Columns: []table.Column{{Name: "s", Type: table.String, Required: rep == pq.Repetitions.Required}}}
			r, err := newReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()), s, defaultLimits)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var got []table.Row
			for {
				row, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if len(got) == 0 {
					if g := r.(*reader).cols[0].guard.charged; g != 1024*24 {
						t.Errorf("%s: dictionary allowance %d bytes, want %d (10-bit indexes)", name, g, 1024*24)
					}
				}
				got = append(got, slices.Clone(row))
			}
			r.Close()
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: rows differ from those written", name)
			}
		}
	}
}

// TestHybridHolds: the count of values in an RLE/bit-packed hybrid stream
// that the page guard checks definition levels with (width 1).
func TestHybridHolds(t *testing.T) {
	for _, c := range []struct {
		b    []byte
		want int64
		ok   bool
	}{
		{[]byte{5 << 1, 1}, 5, true},       // 5 repeated
		{[]byte{5 << 1, 1}, 6, false},      // one short
		{[]byte{5 << 1}, 1, false},         // value cut off
		{[]byte{0, 1}, 1, false},           // a run of 0 ends the stream
		{[]byte{1<<1 | 1, 0xff}, 8, true},  // one group of 8 bit-packed
		{[]byte{2<<1 | 1, 0xff}, 8, true},  // two groups, one there
		{[]byte{2<<1 | 1, 0xff}, 9, false}, // the second group is not
		{[]byte{1<<1 | 1, 0, 3 << 1, 1}, 11, true},
		{[]byte{0x80}, 1, false}, // header cut short
		{nil, 0, true},
	} {
		if got := hybridHolds(c.b, 1, c.want); got != c.ok {
			t.Errorf("hybridHolds(%x, 1, %d) = %v, want %v", c.b, c.want, got, c.ok)
		}
	}
}
