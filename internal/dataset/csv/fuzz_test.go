package csv

import (
	"errors"
	"io"
	"strings"
	"testing"

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
				if cerr := schema.CheckRow(row); cerr != nil {
					t.Fatal(cerr)
				}
			}
		}
		if !errors.Is(err, io.EOF) && exitcode.For(err) != exitcode.Invalid {
			t.Fatalf("error %v: exit %d, want 3", err, exitcode.For(err))
		}
	})
}
