package duckdbtest

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestQueryCSVAndJSONL: the harness reads CSV and JSON lines through DuckDB
// with the names, types and JSON value forms that Result documents.
func TestQueryCSVAndJSONL(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "t.csv")
	jsonl := filepath.Join(dir, "t.jsonl")
	if err := os.WriteFile(csv, []byte("id,n,d,ok\nC1,3,2020-01-02,true\nC'2,,1969-12-31,false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jsonl, []byte(`{"id":"C1","x":1.5,"ts":"2020-01-02T03:04:05.5Z"}`+"\n"+`{"id":"C'2","x":null,"ts":null}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := Query(t, "SELECT * FROM read_csv("+Quote(csv)+", header = true, columns = {'id': 'VARCHAR', 'n': 'BIGINT', 'd': 'DATE', 'ok': 'BOOLEAN'})")
	want := Result{
		Columns: []string{"id", "n", "d", "ok"},
		Types:   []string{"VARCHAR", "BIGINT", "DATE", "BOOLEAN"},
		Rows:    [][]any{{"C1", "3", "2020-01-02", true}, {"C'2", nil, "1969-12-31", false}},
	}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("csv:\ngot  %#v\nwant %#v", r, want)
	}
	r = Query(t, "SELECT id, x, ts::TIMESTAMPTZ AS ts FROM read_json("+Quote(jsonl)+", format = 'newline_delimited')")
	want = Result{
		Columns: []string{"id", "x", "ts"},
		Types:   []string{"VARCHAR", "DOUBLE", "TIMESTAMP WITH TIME ZONE"},
		Rows:    [][]any{{"C1", 1.5, "2020-01-02 03:04:05.5+00"}, {"C'2", nil, nil}},
	}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("jsonl:\ngot  %#v\nwant %#v", r, want)
	}
	if m := r.Maps(); m[0]["id"] != "C1" || m[1]["x"] != nil {
		t.Fatalf("maps %v", m)
	}
}

func TestQueryError(t *testing.T) {
	_, err := TryQuery(t, "SELECT * FROM read_parquet("+Quote(filepath.Join(t.TempDir(), "missing.parquet"))+")")
	if err == nil {
		t.Fatal("a query of a missing file succeeded")
	}
}
