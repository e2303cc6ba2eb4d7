package parquet

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/dataset/duckdbtest"
	"github.com/stella-ops/stella-export/internal/dataset/table"
)

// TestDuckDBReadsOurParquet: DuckDB, an independent Parquet reader, reads
// our files (every codec, several row groups) with the same column names,
// types and rows. Skips without node and @duckdb/node-api unless CI=true.
func TestDuckDBReadsOurParquet(t *testing.T) {
	duckdbtest.Require(t)
	rows := sampleRows(1000)
	for _, c := range Compressions {
		t.Run(c, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "clients.parquet")
			if err := os.WriteFile(path, write(t, sampleSchema, rows, Options{Compression: c, RowGroupRows: 300}), 0o644); err != nil {
				t.Fatal(err)
			}
			src := "read_parquet(" + duckdbtest.Quote(path) + ")"
			desc := duckdbtest.Query(t, "SELECT column_name, column_type, \"null\" FROM (DESCRIBE SELECT * FROM "+src+")")
			want := [][]any{
				{"client_id", "VARCHAR", "YES"},
				{"age", "BIGINT", "YES"},
				{"income", "DOUBLE", "YES"},
				{"veteran", "BOOLEAN", "YES"},
				{"entry_date", "DATE", "YES"},
				{"updated_at", "TIMESTAMP WITH TIME ZONE", "YES"},
			}
			if !reflect.DeepEqual(desc.Rows, want) {
				t.Fatalf("DESCRIBE:\ngot  %v\nwant %v", desc.Rows, want)
			}
			// Required columns are REQUIRED in the file (DuckDB's DESCRIBE
			// says YES for every Parquet column, so ask the schema).
			req := duckdbtest.Query(t, "SELECT name, repetition_type FROM parquet_schema("+duckdbtest.Quote(path)+") WHERE name IN ('client_id', 'entry_date', 'age') ORDER BY name")
			if want := [][]any{{"age", "OPTIONAL"}, {"client_id", "REQUIRED"}, {"entry_date", "REQUIRED"}}; !reflect.DeepEqual(req.Rows, want) {
				t.Fatalf("repetition:\ngot  %v\nwant %v", req.Rows, want)
			}
			got := duckdbtest.Query(t, "SELECT client_id, age, income, veteran, entry_date, epoch_us(updated_at) FROM "+src)
			if len(got.Rows) != len(rows) {
				t.Fatalf("DuckDB read %d rows, want %d", len(got.Rows), len(rows))
			}
			for i, r := range rows {
				if w := duckRow(r); !reflect.DeepEqual(got.Rows[i], w) {
					t.Fatalf("row %d:\nDuckDB %#v\nwant   %#v", i, got.Rows[i], w)
				}
			}
		})
	}
}

// duckRow is a sample row in DuckDB's JSON forms (the timestamp as
// epoch microseconds).
func duckRow(r table.Row) []any {
	out := make([]any, len(r))
	for j, v := range r {
		switch v := v.(type) {
		case nil:
			out[j] = nil
		case int64:
			out[j] = strconv.FormatInt(v, 10)
		case float64:
			switch {
			case math.IsInf(v, -1):
				out[j] = "-Infinity"
			case math.IsInf(v, 1):
				out[j] = "Infinity"
			default:
				out[j] = v
			}
		case time.Time:
			if j == 4 {
				out[j] = v.Format(time.DateOnly)
			} else {
				out[j] = strconv.FormatInt(v.UnixMicro(), 10)
			}
		default:
			out[j] = v
		}
	}
	return out
}

// TestReadDuckDBParquet: our reader reads a file DuckDB wrote (its own
// writer, its default codec and row groups), as a parquet: source would be.
func TestReadDuckDBParquet(t *testing.T) {
	duckdbtest.Require(t)
	path := filepath.Join(t.TempDir(), "duck.parquet")
	duckdbtest.Query(t, "COPY (SELECT 'C' || i::VARCHAR AS id, i::INTEGER AS n, i / 4 AS x, i % 2 = 0 AS b, DATE '1969-12-01' + i::INTEGER AS d, "+
		"TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_microseconds(i * 1000003) AS ts, CASE WHEN i % 3 = 0 THEN NULL ELSE 'v' END AS opt "+
		"FROM range(200000) t(i)) TO "+duckdbtest.Quote(path)+" (FORMAT parquet)")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := table.Schema{Name: "duck", Columns: []table.Column{
		{Name: "opt", Type: table.String}, {Name: "ts", Type: table.Timestamp}, {Name: "d", Type: table.Date},
		{Name: "b", Type: table.Bool}, {Name: "x", Type: table.Float}, {Name: "n", Type: table.Int}, {Name: "id", Type: table.String},
	}}
	got := readAll(t, data, s)
	if len(got) != 200000 {
		t.Fatalf("read %d rows, want 200000", len(got))
	}
	if g := footer(t, data).NumRowGroups(); g < 2 {
		t.Fatalf("DuckDB wrote %d row group; the test wants several", g)
	}
	for _, i := range []int{0, 1, 3, 122879, 122880, 199999} {
		var opt any = "v"
		if i%3 == 0 {
			opt = nil
		}
		want := table.Row{opt, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 1000003 * time.Microsecond),
			day(1969, 12, 1).AddDate(0, 0, i), i%2 == 0, float64(i) / 4, int64(i), "C" + strconv.Itoa(i)}
		equalRows(t, got[i:i+1], []table.Row{want})
	}
}
