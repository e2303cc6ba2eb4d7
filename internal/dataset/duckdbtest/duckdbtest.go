// Package duckdbtest runs SQL in DuckDB, an independent reader of Parquet,
// CSV and JSON lines, for the dataset export's interop tests. DuckDB runs
// through Node.js and the npm package @duckdb/node-api that scripts/duckdb.sh
// installs; the folder holding its node_modules comes from
// STELLA_EXPORT_DUCKDB (scripts/test.sh sets it) or, when that is unset,
// the newest install in scripts/duckdb.sh's cache. Without node or the
// package a test skips, unless CI=true, where it fails.
//
// A shell equivalent of Query:
//
//	echo "SELECT * FROM 'out.parquet'" | NODE_PATH=$DIR/node_modules node query.js
package duckdbtest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// script reads one SQL text on stdin, runs it in an in-memory DuckDB with
// the time zone pinned to UTC, and prints the last statement's result as
// JSON: {"columns": [...], "types": [...], "rows": [[...], ...]}.
const script = `
const { DuckDBInstance } = require('@duckdb/node-api');
let sql = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => { sql += d; });
process.stdin.on('end', async () => {
  try {
    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    await c.run("SET TimeZone = 'UTC'");
    const r = await c.runAndReadAll(sql);
    process.stdout.write(JSON.stringify({
      columns: r.columnNames(),
      types: r.columnTypes().map(String),
      rows: r.getRowsJson(),
    }));
  } catch (e) {
    process.stderr.write(String(e && e.message || e) + '\n');
    process.exit(1);
  }
});
`

// Result is what a query returned. Values are DuckDB's JSON forms: NULL is
// nil, BOOLEAN a bool, DOUBLE a float64 (or "Infinity", "-Infinity",
// "NaN"), BIGINT and DECIMAL strings of digits, DATE "YYYY-MM-DD",
// TIMESTAMP WITH TIME ZONE "YYYY-MM-DD HH:MM:SS[.ffffff]+00", VARCHAR a
// string.
type Result struct {
	Columns []string `json:"columns"`
	Types   []string `json:"types"`
	Rows    [][]any  `json:"rows"`
}

// Maps returns the rows as maps from column name to value.
func (r Result) Maps() []map[string]any {
	out := make([]map[string]any, len(r.Rows))
	for i, row := range r.Rows {
		m := make(map[string]any, len(row))
		for j, v := range row {
			m[r.Columns[j]] = v
		}
		out[i] = m
	}
	return out
}

// Quote returns s as an SQL string literal, for file paths in queries.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// Dir returns the folder that holds node_modules/@duckdb/node-api, or ""
// when there is none.
func Dir() string {
	if d := os.Getenv("STELLA_EXPORT_DUCKDB"); d != "" {
		return d
	}
	cache := os.Getenv("STELLA_EXPORT_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return ""
			}
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "stella-export")
	}
	found, _ := filepath.Glob(filepath.Join(cache, "duckdb", "*", "node_modules", "@duckdb", "node-api"))
	if len(found) == 0 {
		return ""
	}
	sort.Strings(found)
	return filepath.Dir(filepath.Dir(filepath.Dir(found[len(found)-1])))
}

// Require skips the test when node or @duckdb/node-api is missing (fails
// it under CI=true) and returns the node binary and the package folder.
func Require(t testing.TB) (node, dir string) {
	t.Helper()
	node, err := exec.LookPath("node")
	dir = Dir()
	why := ""
	switch {
	case err != nil:
		why = "node is not installed"
	case dir == "":
		why = "@duckdb/node-api is not installed (bash scripts/duckdb.sh, or set STELLA_EXPORT_DUCKDB)"
	default:
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "@duckdb", "node-api")); err != nil {
			why = "STELLA_EXPORT_DUCKDB=" + dir + " holds no node_modules/@duckdb/node-api"
		}
	}
	if why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("duckdb interop: %s; CI runs this test", why)
		}
		t.Skipf("duckdb interop: %s", why)
	}
	return node, dir
}

// Query runs sql in DuckDB and returns the last statement's result; a
// DuckDB error fails the test.
func Query(t testing.TB, sql string) Result {
	t.Helper()
	r, err := TryQuery(t, sql)
	if err != nil {
		t.Fatalf("duckdb: %v\nquery: %s", err, sql)
	}
	return r
}

// TryQuery is Query that returns DuckDB's error instead of failing, for
// tests that expect DuckDB to refuse a file.
func TryQuery(t testing.TB, sql string) (Result, error) {
	t.Helper()
	node, dir := Require(t)
	js := filepath.Join(t.TempDir(), "query.js")
	if err := os.WriteFile(js, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, js)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	cmd.Stdin = strings.NewReader(sql)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			t.Fatalf("duckdb: query did not finish within 2 minutes: %s", sql)
		}
		return Result{}, &Error{Msg: strings.TrimSpace(stderr.String()), Err: err}
	}
	var r Result
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("duckdb: reading the result: %v\n%s", err, stdout.String())
	}
	return r, nil
}

// Error is a failed query: DuckDB's message.
type Error struct {
	Msg string
	Err error
}

func (e *Error) Error() string { return e.Msg + " (" + e.Err.Error() + ")" }
func (e *Error) Unwrap() error { return e.Err }
