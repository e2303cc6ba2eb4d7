package jsonl

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/dataset/table"
)

var schema = table.Schema{Columns: []table.Column{
	{Name: "id", Type: table.String},
	{Name: "n", Type: table.Int},
	{Name: "x", Type: table.Float},
	{Name: "ok", Type: table.Bool},
	{Name: "d", Type: table.Date},
	{Name: "ts", Type: table.Timestamp},
}}

func readAll(src string) ([]table.Row, error) {
	r := NewReader(strings.NewReader(src), schema, "in.jsonl")
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
	src := `{"extra":[1],"ts":"2024-12-09T04:58:00+01:00","d":"2024-01-02","ok":true,"x":1.5,"n":7,"id":"<a\"b>"}` + "\n\n" +
		`{"id":null,"n":"8","x":2}` + "\n"
	rows, err := readAll(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0][1] != int64(7) || rows[1][1] != int64(8) || rows[1][2] != 2.0 || rows[1][0] != nil || rows[1][5] != nil {
		t.Fatalf("rows %#v", rows)
	}
	if !rows[0][5].(time.Time).Equal(time.Date(2024, 12, 9, 3, 58, 0, 0, time.UTC)) {
		t.Errorf("ts %v", rows[0][5])
	}
	var buf bytes.Buffer
	w := NewWriter(&buf, schema)
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	const out = `{"id":"<a\"b>","n":7,"x":1.5,"ok":true,"d":"2024-01-02","ts":"2024-12-09T03:58:00Z"}` + "\n" +
		`{"id":null,"n":8,"x":2,"ok":null,"d":null,"ts":null}` + "\n"
	if buf.String() != out {
		t.Errorf("written:\n%s\nwant:\n%s", buf.String(), out)
	}
}

func TestReaderErrors(t *testing.T) {
	for _, tt := range []struct{ src, want string }{
		{"[1]\n", "in.jsonl:1: not a JSON object"},
		{"{} {}\n", "in.jsonl:1: more than one JSON value on the line"},
		{`{"n":1.5}`, "in.jsonl:1: column n: 1.5 is not an integer"},
		{`{"id":1}`, "in.jsonl:1: column id: a number (1) in a string column"},
		{`{"ok":"perhaps"}`, `in.jsonl:1: column ok: "perhaps" is not true or false`},
		{`{"d":{}}`, "in.jsonl:1: column d: an object or array in a date column"},
		{"{}\n" + strings.Repeat(" ", MaxLineBytes+1), "in.jsonl:2: a line is longer than 1048576 bytes"},
	} {
		if _, err := readAll(tt.src); err == nil || err.Error() != tt.want {
			t.Errorf("%.40q: %v, want %q", tt.src, err, tt.want)
		}
	}
}

// TestAppendString: the fast path writes what encoding/json writes.
func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain text 123", `q"uote`, `back\\slash`, "tab\tnl\n", "<&>", "\x7f", "é ü 中", "\xff bad utf-8", "\u2028"} {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.Encode(s)
		want := strings.TrimSuffix(buf.String(), "\n")
		if got := string(appendString(nil, s)); got != want {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
}
