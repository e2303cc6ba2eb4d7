// Package jsonl reads and writes dataset tables as JSON lines: one JSON
// object per line, members in schema order, null for a null value,
// numbers for int and float columns, true/false for bool, and strings for
// the rest (dates YYYY-MM-DD, timestamps RFC 3339 in UTC). Both stream
// one row at a time.
package jsonl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/stella-ops/stella-export/internal/dataset/table"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

// MaxLineBytes bounds one line of a JSON lines source.
const MaxLineBytes = 1 << 20

// Reader reads rows of a schema from JSON lines. A member not in the
// schema is ignored; a column without a member is null.
type Reader struct {
	name   string
	sc     *bufio.Scanner
	schema table.Schema
	row    table.Row
	line   int
}

// NewReader reads r; name is the source in messages.
func NewReader(r io.Reader, s table.Schema, name string) *Reader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLineBytes)
	return &Reader{name: name, sc: sc, schema: s, row: make(table.Row, len(s.Columns))}
}

// Next returns the next row (blank lines are skipped); the row is reused
// by the next call.
func (r *Reader) Next() (table.Row, error) {
	for r.sc.Scan() {
		r.line++
		b := bytes.TrimSpace(r.sc.Bytes())
		if len(b) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil || obj == nil {
			return nil, exitcode.Invalidf("%s:%d: not a JSON object", r.name, r.line)
		}
		if dec.More() {
			return nil, exitcode.Invalidf("%s:%d: more than one JSON value on the line", r.name, r.line)
		}
		for i, c := range r.schema.Columns {
			v, err := convert(c.Type, obj[c.Name])
			if err != nil {
				return nil, exitcode.Invalidf("%s:%d: column %s: %v", r.name, r.line, c.Name, err)
			}
			r.row[i] = v
		}
		return r.row, nil
	}
	if err := r.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, exitcode.Invalidf("%s:%d: a line is longer than %d bytes", r.name, r.line+1, MaxLineBytes)
		}
		return nil, fmt.Errorf("read %s: %w", r.name, err)
	}
	return nil, io.EOF
}

// Close does nothing: the caller closes the underlying reader.
func (r *Reader) Close() error { return nil }

func convert(t table.Type, v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		if t == table.String {
			return x, nil
		}
		if x == "" {
			return nil, nil
		}
		return table.ParseText(t, x)
	case json.Number:
		switch t {
		case table.Int:
			n, err := strconv.ParseInt(x.String(), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s is not an integer", x)
			}
			return n, nil
		case table.Float:
			f, err := strconv.ParseFloat(x.String(), 64)
			if err != nil || math.IsInf(f, 0) {
				return nil, fmt.Errorf("%s is not a finite number", x)
			}
			return f, nil
		}
		return nil, fmt.Errorf("a number (%s) in a %s column", x, t)
	case bool:
		if t == table.Bool {
			return x, nil
		}
		return nil, fmt.Errorf("a boolean in a %s column", t)
	}
	return nil, fmt.Errorf("an object or array in a %s column", t)
}

// Writer writes rows as JSON lines.
type Writer struct {
	w      *bufio.Writer
	schema table.Schema
	keys   [][]byte // `"name":` per column, the first with '{'
	buf    []byte
}

// NewWriter writes to w; nothing is written before the first row.
func NewWriter(w io.Writer, s table.Schema) *Writer {
	jw := &Writer{w: bufio.NewWriterSize(w, 64<<10), schema: s}
	for i, c := range s.Columns {
		k, _ := json.Marshal(c.Name)
		p := ","
		if i == 0 {
			p = "{"
		}
		jw.keys = append(jw.keys, append(append([]byte(p), k...), ':'))
	}
	return jw
}

// Write writes one row as a line.
func (w *Writer) Write(r table.Row) error {
	b := w.buf[:0]
	if len(w.schema.Columns) == 0 {
		b = append(b, '{')
	}
	for i, c := range w.schema.Columns {
		b = append(b, w.keys[i]...)
		var err error
		if b, err = appendValue(b, c.Type, r[i]); err != nil {
			return fmt.Errorf("column %s: %w", c.Name, err)
		}
	}
	b = append(b, '}', '\n')
	w.buf = b
	_, err := w.w.Write(b)
	return err
}

// Close flushes the buffered lines.
func (w *Writer) Close() error { return w.w.Flush() }

func appendValue(b []byte, t table.Type, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, errors.New("NaN or infinity cannot be written as JSON")
		}
		return strconv.AppendFloat(b, x, 'g', -1, 64), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return appendString(b, x), nil
	case time.Time:
		return appendString(b, table.FormatValue(t, x)), nil
	}
	return nil, fmt.Errorf("unexpected value of type %T", v)
}

// appendString appends s as a JSON string, as encoding/json writes it
// without HTML escaping: plain printable ASCII is copied as it is, the rest
// goes through the encoder.
func appendString(b []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})...)
}
