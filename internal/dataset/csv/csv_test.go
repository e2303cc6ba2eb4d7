package csv

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/dataset/table"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

var schema = table.Schema{Name: "t", Version: "1", Columns: []table.Column{
	{Name: "id", Type: table.String, Required: true},
	{Name: "n", Type: table.Int},
	{Name: "x", Type: table.Float},
	{Name: "ok", Type: table.Bool},
	{Name: "d", Type: table.Date},
	{Name: "ts", Type: table.Timestamp},
}}

func readAll(t *testing.T, src string) ([]table.Row, error) {
	t.Helper()
	r, err := NewReader(strings.NewReader(src), schema, "in.csv")
	if err != nil {
		return nil, err
	}
	var rows []table.Row
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		rows = append(rows, append(table.Row(nil), row...))
	}
}

func TestRoundTrip(t *testing.T) {
	// columns in another order, an extra one, a BOM, quoting
	src := "\xef\xbb\xbfextra,ts,d,ok,x,n,id\n" +
		"zz,2024-12-09T03:58:00Z,2024-01-02,true,1.5,7,\"a,\"\"b\"\"\"\n" +
		"zz,,,,,,c\n"
	rows, err := readAll(t, src)
	if err != nil {
		t.Fatal(err)
	}
	want := []table.Row{
		{`a,"b"`, int64(7), 1.5, true, time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(2024, 12, 9, 3, 58, 0, 0, time.UTC)},
		{"c", nil, nil, nil, nil, nil},
	}
	if len(rows) != 2 {
		t.Fatalf("rows %v", rows)
	}
	for i := range want {
		for j := range want[i] {
			a, b := rows[i][j], want[i][j]
			if ta, ok := a.(time.Time); ok {
				if !ta.Equal(b.(time.Time)) {
					t.Errorf("row %d col %d: %v, want %v", i, j, a, b)
				}
			} else if a != b {
				t.Errorf("row %d col %d: %#v, want %#v", i, j, a, b)
			}
		}
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, schema)
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
	const out = "id,n,x,ok,d,ts\n\"a,\"\"b\"\"\",7,1.5,true,2024-01-02,2024-12-09T03:58:00Z\nc,,,,,\n"
	if buf.String() != out {
		t.Errorf("written:\n%s\nwant:\n%s", buf.String(), out)
	}
	again, err := readAll(t, out)
	if err != nil || len(again) != 2 || again[0][0] != `a,"b"` {
		t.Errorf("read back: %v %v", again, err)
	}
}

func TestReaderErrors(t *testing.T) {
	for _, tt := range []struct{ name, src, want string }{
		{"empty", "", "in.csv: the file is empty; a CSV source starts with a header row of column names"},
		{"missing column", "id,n,x,ok,d\n", "in.csv: header: column ts of the schema is missing"},
		{"duplicate header", "id,id,n,x,ok,d,ts\n", "in.csv: header: column id is named twice"},
		{"type", "id,n,x,ok,d,ts\na,1,2,true,2024-13-01,\n", `in.csv: row 1: column d: "2024-13-01" is not a date (YYYY-MM-DD)`},
		{"quote", "id,n,x,ok,d,ts\n\"a,1,2,true,,\n", "in.csv:2:15: extraneous or missing \" in quoted-field"},
		{"fields", "id,n,x,ok,d,ts\na,1\n", "in.csv:2:1: wrong number of fields"},
		{"long line", "id,n,x,ok,d,ts\n" + strings.Repeat("a", MaxRecordBytes+10), "in.csv: a line is longer than 1048576 bytes; a CSV source has one record per line"},
	} {
		_, err := readAll(t, tt.src)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
			continue
		}
		if exitcode.For(err) != exitcode.Invalid {
			t.Errorf("%s: exit %d, want 3", tt.name, exitcode.For(err))
		}
	}
}
