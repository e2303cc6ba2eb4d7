package export

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/stella-ops/stella-export/internal/dataset/duckdbtest"
)

// TestDuckDBReadsExports: DuckDB, an independent reader, reads the
// Parquet, CSV and JSON lines exports of one source and redaction as the
// same rows, and the Parquet file with the schema's column names and
// types.
func TestDuckDBReadsExports(t *testing.T) {
	duckdbtest.Require(t)
	const red = "redaction: {drop: [SSN], hash: [PersonalID], suppress_where: {DV: '1'}}"
	dir := t.TempDir()
	paths := map[string]string{}
	for _, f := range []struct{ format, file string }{
		{"parquet", "data/part-00001.parquet"}, {"csv", "data/part-00001.csv"}, {"jsonl", "data/part-00001.jsonl"},
	} {
		fx, err := run(t, "format: "+f.format+"\ncompression: none\n"+red, "")
		if err != nil {
			t.Fatal(err)
		}
		b, ok := fx.files[f.file]
		if !ok {
			t.Fatalf("%s: no %s in %v", f.format, f.file, keys(fx.files))
		}
		paths[f.format] = filepath.Join(dir, filepath.Base(f.file))
		if err := os.WriteFile(paths[f.format], b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pq := duckdbtest.Query(t, fmt.Sprintf("DESCRIBE SELECT * FROM read_parquet(%s)", duckdbtest.Quote(paths["parquet"])))
	var cols [][2]string
	for _, r := range pq.Maps() {
		cols = append(cols, [2]string{fmt.Sprint(r["column_name"]), fmt.Sprint(r["column_type"])})
	}
	want := [][2]string{{"PersonalID", "VARCHAR"}, {"Gender", "BIGINT"}, {"DV", "BIGINT"}, {"Income", "DOUBLE"}, {"EntryDate", "DATE"}, {"ExitDate", "DATE"}}
	if !reflect.DeepEqual(cols, want) {
		t.Errorf("DuckDB's columns of the Parquet export: %v, want %v", cols, want)
	}
	const q = "SELECT PersonalID, Gender, Income, CAST(EntryDate AS VARCHAR) AS e, CAST(ExitDate AS VARCHAR) AS x FROM %s ORDER BY ALL"
	rows := func(from string) []map[string]any {
		return duckdbtest.Query(t, fmt.Sprintf(q, from)).Maps()
	}
	fromParquet := rows("read_parquet(" + duckdbtest.Quote(paths["parquet"]) + ")")
	if len(fromParquet) != 3 {
		t.Fatalf("DuckDB reads %d rows of the Parquet export, want 3", len(fromParquet))
	}
	for format, from := range map[string]string{
		"csv":   "read_csv(" + duckdbtest.Quote(paths["csv"]) + ", header = true, columns = {'PersonalID': 'VARCHAR', 'Gender': 'BIGINT', 'DV': 'BIGINT', 'Income': 'DOUBLE', 'EntryDate': 'DATE', 'ExitDate': 'DATE'})",
		"jsonl": "read_json(" + duckdbtest.Quote(paths["jsonl"]) + ", format = 'newline_delimited', columns = {'PersonalID': 'VARCHAR', 'Gender': 'BIGINT', 'DV': 'BIGINT', 'Income': 'DOUBLE', 'EntryDate': 'DATE', 'ExitDate': 'DATE'})",
	} {
		if got := rows(from); !reflect.DeepEqual(got, fromParquet) {
			t.Errorf("DuckDB reads the %s export as %v, the Parquet export as %v", format, got, fromParquet)
		}
	}
}
