package export

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/dataset/schema"
	"github.com/stella-ops/stella-export/internal/dataset/table"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// openSQLite opens a SQLite source read-only and immutable (no locks, no
// journal, no write of any kind), with query_only on and untrusted schema
// objects unable to call functions with side effects, and runs its
// table's SELECT or the contract's query. Columns are found by name in
// the result.
func openSQLite(c *contract.Contract, s *schema.Schema) (*Source, error) {
	d := c.Dataset
	where := c.Where("dataset_ref")
	// the file's digest, and the refusal of FIFOs and devices without
	// blocking, before SQLite opens it
	f, err := safefile.Open(d.SourcePath)
	if err != nil {
		return nil, fmt.Errorf("%s: dataset_ref: %w", where, err)
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", d.SourcePath, err)
	}
	abs, err := filepath.Abs(d.SourcePath)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite3", sqliteURI(abs)+"?mode=ro&immutable=1&_query_only=1")
	if err != nil {
		return nil, fmt.Errorf("%s: dataset_ref: %w", where, err)
	}
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, sqliteErr(where, d.SourcePath, err)
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA trusted_schema=OFF"); err != nil {
		conn.Close()
		db.Close()
		return nil, sqliteErr(where, d.SourcePath, err)
	}
	q := d.Query
	if d.Table != "" {
		cols := make([]string, len(s.Columns))
		for i, col := range s.Columns {
			cols[i] = quoteIdent(col.Name)
		}
		q = "SELECT " + strings.Join(cols, ", ") + " FROM " + quoteIdent(d.Table)
	}
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		conn.Close()
		db.Close()
		return nil, sqliteErr(where, d.SourcePath, err)
	}
	names, err := rows.Columns()
	if err != nil {
		rows.Close()
		conn.Close()
		db.Close()
		return nil, sqliteErr(where, d.SourcePath, err)
	}
	r := &sqliteReader{name: d.SourcePath, db: db, conn: conn, rows: rows, schema: s.Schema,
		vals: make([]any, len(names)), ptrs: make([]any, len(names)), row: make(table.Row, len(s.Columns))}
	for i := range r.vals {
		r.ptrs[i] = &r.vals[i]
	}
	idx := map[string]int{}
	for i, n := range names {
		idx[n] = i
	}
	for _, col := range s.Columns {
		i, ok := idx[col.Name]
		if !ok {
			r.Close()
			return nil, exitcode.Invalidf("%s: the query's result has no column %s of the schema", d.SourcePath, col.Name)
		}
		r.cols = append(r.cols, i)
	}
	return &Source{Reader: r, digest: digest.Of(h).String()}, nil
}

// sqliteURI is go-sqlite3's URI of an absolute path, with the characters
// URIs give meaning escaped.
func sqliteURI(abs string) string {
	return "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(abs)
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// sqliteErr classifies SQLite's errors: a file that is not a database, a
// damaged one, a missing table or column, a statement that would write,
// are invalid input (exit 3).
func sqliteErr(where, path string, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrNotADB, sqlite3.ErrCorrupt, sqlite3.ErrError, sqlite3.ErrReadonly, sqlite3.ErrAuth, sqlite3.ErrRange, sqlite3.ErrMismatch, sqlite3.ErrFormat:
			return exitcode.Invalidf("%s: dataset_ref: %s: %v", where, path, err)
		}
	}
	return fmt.Errorf("%s: dataset_ref: read %s: %w", where, path, err)
}

type sqliteReader struct {
	name   string
	db     *sql.DB
	conn   *sql.Conn
	rows   *sql.Rows
	schema table.Schema
	cols   []int
	vals   []any
	ptrs   []any
	row    table.Row
	n      int64
}

func (r *sqliteReader) Next() (table.Row, error) {
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return nil, sqliteErr(r.name, r.name, err)
		}
		return nil, io.EOF
	}
	r.n++
	if err := r.rows.Scan(r.ptrs...); err != nil {
		return nil, sqliteErr(r.name, r.name, err)
	}
	for i, col := range r.schema.Columns {
		v, err := sqliteValue(col.Type, r.vals[r.cols[i]])
		if err != nil {
			return nil, exitcode.Invalidf("%s: row %d: column %s: %v", r.name, r.n, col.Name, err)
		}
		r.row[i] = v
	}
	return r.row, nil
}

func (r *sqliteReader) Close() error {
	r.rows.Close()
	r.conn.Close()
	return r.db.Close()
}

// sqliteValue converts what SQLite holds to a value of type t: text is
// parsed as a CSV cell is, integers and reals convert where no precision
// is lost, and go-sqlite3's times (columns declared DATE, DATETIME or
// TIMESTAMP) are taken in UTC.
func sqliteValue(t table.Type, v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		return sqliteValue(t, string(x))
	case string:
		if t == table.String {
			return x, nil
		}
		return table.ParseText(t, x)
	case int64:
		switch t {
		case table.Int:
			return x, nil
		case table.Float:
			return float64(x), nil
		case table.String:
			return strconv.FormatInt(x, 10), nil
		case table.Bool:
			if x == 0 || x == 1 {
				return x == 1, nil
			}
		}
		return nil, fmt.Errorf("the integer %d is not a %s", x, t)
	case float64:
		switch t {
		case table.Float:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, fmt.Errorf("%v is not a finite number", x)
			}
			return x, nil
		case table.Int:
			if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
				return int64(x), nil
			}
		case table.String:
			return strconv.FormatFloat(x, 'g', -1, 64), nil
		}
		return nil, fmt.Errorf("the number %v is not a %s", x, t)
	case bool:
		if t == table.Bool {
			return x, nil
		}
	case time.Time:
		switch t {
		case table.Date:
			return table.Day(x), nil
		case table.Timestamp:
			return x.UTC(), nil
		case table.String:
			return x.UTC().Format(time.RFC3339Nano), nil
		}
	}
	return nil, fmt.Errorf("a %T value is not a %s", v, t)
}
