package jsonl

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/dataset/table"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

// FuzzReader: whatever a JSON lines source holds, the reader gives rows
// whose values have their column's type, then io.EOF or an exit-3 error;
// never a panic.
func FuzzReader(f *testing.F) {
	f.Add(`{"id":"a","n":1,"x":1.5,"ok":true,"d":"2024-01-02","ts":"2024-01-02T03:04:05Z"}` + "\n")
	f.Add(`{"id":null,"n":-9223372036854775808,"x":1e308,"other":[1,{"a":2}]}` + "\n\n" + `{}`)
	f.Add(`{"n":1.0}` + "\n" + `{"n":"1"}`)
	f.Add("[1]\n{\"id\":\"\\ud800\"}")
	f.Fuzz(func(t *testing.T, src string) {
		r := NewReader(strings.NewReader(src), schema, "in.jsonl")
		var err error
		for err == nil {
			var row table.Row
			row, err = r.Next()
			if err == nil {
				checkRow(t, row)
			}
		}
		if !errors.Is(err, io.EOF) && exitcode.For(err) != exitcode.Invalid {
			t.Fatalf("error %v: exit %d, want 3", err, exitcode.For(err))
		}
	})
}

// checkRow fails t if a value does not have its column's Go type.
func checkRow(t *testing.T, row table.Row) {
	t.Helper()
	if len(row) != len(schema.Columns) {
		t.Fatalf("row of %d values, want %d", len(row), len(schema.Columns))
	}
	for i, c := range schema.Columns {
		if row[i] == nil {
			continue
		}
		ok := false
		switch c.Type {
		case table.String:
			_, ok = row[i].(string)
		case table.Int:
			_, ok = row[i].(int64)
		case table.Float:
			_, ok = row[i].(float64)
		case table.Bool:
			_, ok = row[i].(bool)
		default:
			_, ok = row[i].(time.Time)
		}
		if !ok {
			t.Fatalf("column %s (%s): value %#v", c.Name, c.Type, row[i])
		}
	}
}
