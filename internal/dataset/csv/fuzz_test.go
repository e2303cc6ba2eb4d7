package csv

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/dataset/table"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

// FuzzReader: whatever a CSV source holds, the reader gives rows whose
// values have their column's type, then io.EOF or an exit-3 error; never
// a panic.
func FuzzReader(f *testing.F) {
	f.Add("id,n,x,ok,d,ts\na,1,1.5,true,2024-01-02,2024-01-02T03:04:05Z\n")
	f.Add("id,n,x,ok,d,ts\r\n\"a,\"\"b\",,,,,\r\n")
	f.Add("ts,d,ok,x,n,id\n2024-01-02T03:04:05+01:00,2024-02-29,false,-0,-9223372036854775808,z\n")
	f.Add("id\n\xff\xfe\n")
	f.Fuzz(func(t *testing.T, src string) {
		r, err := NewReader(strings.NewReader(src), schema, "in.csv")
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
			continue // a required column's null is validate's to report
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
