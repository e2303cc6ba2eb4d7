package jsonl

import (
	"errors"
	"io"
	"strings"
	"testing"

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
